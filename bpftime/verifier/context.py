"""What a load from the context pointer yields, per program type (Policy.context).

uprobes see x86-64 `struct pt_regs`; syscall tracepoints the kernel's
`trace_event_raw_sys_enter/exit`; XDP `struct xdp_md`. The context is read-only.
Loading an entry argument the class may `read` gives host memory of the argument
type's size.
"""
from __future__ import annotations

from dataclasses import dataclass

from bpftime.policy import ContextKind, Policy
from bpftime.verifier.scalar import Scalar, loaded_scalar
from bpftime.verifier.state import Kind, Mem, Reg, scalar

# struct pt_regs, 8 bytes per field, in the kernel's order
PT_REGS_FIELDS = ("r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax",
                  "cx", "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss")
PT_REGS_SIZE = 8 * len(PT_REGS_FIELDS)
# System V argument registers in order, as pt_regs offsets
ARG_OFFSETS = tuple(8 * PT_REGS_FIELDS.index(r) for r in ("di", "si", "dx", "cx", "r8", "r9"))

XDP_FIELDS = ("data", "data_end", "data_meta", "ingress_ifindex", "rx_queue_index",
              "egress_ifindex")
CTX_SIZES = {
    ContextKind.PT_REGS: PT_REGS_SIZE,
    ContextKind.SYSCALL_ENTER: 16 + 6 * 8,   # common header, long id, unsigned long args[6]
    ContextKind.SYSCALL_EXIT: 24,            # common header, long id, long ret
    ContextKind.XDP: 4 * len(XDP_FIELDS),
}


@dataclass(frozen=True)
class Context:
    """The context layout of one policy."""

    policy: Policy

    @property
    def size(self) -> int:
        return CTX_SIZES[self.policy.context]

    def load(self, off: int, size: int, pc: int) -> Reg | str:
        """The register a `size`-byte load at `off` gives, or why it is refused."""
        kind = self.policy.context
        if off < 0 or off + size > self.size:
            return f"invalid context access off={off} size={size} ({kind.value} context is {self.size} bytes)"
        if off % size:
            return f"misaligned context access off={off} size={size}"
        if kind == ContextKind.XDP:
            if size != 4:
                return f"invalid xdp_md access off={off} size={size}: fields are 4 bytes"
            field = XDP_FIELDS[off // 4]
            if field == "data":
                return Reg(Kind.PACKET, Scalar.const(0), origin=pc)
            if field == "data_end":
                return Reg(Kind.PACKET_END, Scalar.const(0), origin=pc)
            if field == "data_meta":
                return Reg(Kind.PACKET_META, Scalar.const(0), origin=pc)
            return scalar(Scalar.urange(0, 0xFFFFFFFF))
        if kind == ContextKind.PT_REGS and size == 8 and off in ARG_OFFSETS:
            granted = self._arg_memory(ARG_OFFSETS.index(off), pc)
            if granted is not None:
                return granted
        return scalar(loaded_scalar(size, False))

    def _arg_memory(self, index: int, pc: int) -> Reg | None:
        for arg in self.policy.entry_args:
            if arg.index == index and arg.read and arg.type.size:
                mem = Mem(f"host arg {arg.name}", arg.type.size, writable=arg.write,
                          write_ranges=tuple((f.offset, f.size) for f in arg.write_fields))
                # EIM grants name a valid argument of the entry: not null-checked
                return Reg(Kind.MEM, Scalar.const(0), mem=mem, origin=pc)
        return None
