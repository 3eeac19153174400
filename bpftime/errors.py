"""Errors every stage raises; the CLI turns each into one line and an exit code."""
from __future__ import annotations


class BpftimeError(Exception):
    """Base of all user-facing errors: the message is one line, ready to print."""

    exit_code = 1

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class DecodeError(BpftimeError):
    """A malformed instruction: names its index and the reason."""

    def __init__(self, index: int, reason: str):
        super().__init__(f"instruction {index}: {reason}")
        self.index = index
        self.reason = reason


class AsmError(BpftimeError):
    """Assembly text that does not assemble: names the line."""

    def __init__(self, line: int, reason: str, source: str = "<asm>"):
        super().__init__(f"{source}:{line}: {reason}")
        self.line = line
        self.reason = reason


class LoadError(BpftimeError):
    """A malformed object, input file or spec: names the file and what is wrong."""

    exit_code = 2


class VerifyError(BpftimeError):
    """The verifier rejected a program."""

    exit_code = 1


class RuntimeFault(BpftimeError):
    """A program stopped at run time (bad memory access, bad call): names the instruction."""

    def __init__(self, pc: int, reason: str):
        super().__init__(f"instruction {pc}: {reason}")
        self.pc = pc
        self.reason = reason


class AttachError(BpftimeError):
    """A process that cannot (or may not) be attached to or detached from."""

    exit_code = 1


class NotFound(AttachError):
    """A process or session that does not exist: malformed input, like a missing file."""

    exit_code = 2
