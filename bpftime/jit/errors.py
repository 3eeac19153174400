"""Errors of the JIT: refusals at compile time and at link time."""
from __future__ import annotations

from bpftime.errors import BpftimeError


class CompileError(BpftimeError):
    """An instruction the JIT cannot compile: names its index and the reason."""

    def __init__(self, index: int, reason: str):
        super().__init__(f"instruction {index}: {reason}")
        self.index = index
        self.reason = reason


class LinkError(BpftimeError):
    """A link-table slot that cannot be filled (missing helper, map, extern)."""
