"""Rejection messages in the style of the kernel verifier's log."""
from __future__ import annotations

from bpftime.disasm import format_insn
from bpftime.errors import VerifyError
from bpftime.isa import Insn


class Rejected(VerifyError):
    """A program the verifier refuses: which program, where, the rule and the state.
    `str()` is one line: program, instruction index, the instruction, its source line
    (when BTF line info is given), the rule broken and the registers there."""

    def __init__(self, prog: str, pc: int | None, insn_text: str, rule: str, regs: str,
                 source: str | None = None):
        where = prog if pc is None else f"{prog}: instruction {pc} `{insn_text}`"
        if source:
            where += f" ({source})"
        super().__init__(f"{where}: {rule}; state: {regs}" if regs else f"{where}: {rule}")
        self.prog, self.pc, self.rule, self.regs, self.source = prog, pc, rule, regs, source


class Refusal(Exception):
    """Raised inside the walk with the rule broken; the walker adds the context."""

    def __init__(self, rule: str, pc: int | None = None):
        super().__init__(rule)
        self.rule = rule
        self.pc = pc


def insn_text(insn: Insn, pc: int) -> str:
    """The instruction disassembled (jump targets as absolute instruction indices)."""
    return format_insn(insn, pc)
