"""Trampoline templates, assembled with keystone (imported on first use).

A hook's code is [return trampoline][entry trampoline][displaced instructions][jump
back]. Both trampolines build a `struct pt_regs` (kernel x86-64 layout) on the stack,
keep it 16-byte aligned, and call the C dispatcher with (hook descriptor, regs):

- entry: `bpftime_dispatch_entry` returns non-zero when an extension overrode the
  return value: the trampoline then returns regs->ax to the caller at once; otherwise
  it restores the caller-saved registers (the dispatcher and the extensions preserve
  the callee-saved ones, System V) and runs the displaced instructions.
- return: reached through the swapped return address; `bpftime_dispatch_return`
  pops the per-thread shadow stack and returns the original return address.

Status flags are recorded in regs->flags at entries (at returns the dispatcher puts
0x202 there) but never restored: they are not live across a System V call boundary
(function entry or return), and popfq costs ~20 cycles.
"""
from __future__ import annotations

import struct
from functools import cache

from bpftime.hook.relocate import Reloc, RelocKind, Target

PT_REGS = ("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
           "rdx", "rsi", "rdi", "orig_ax", "ip", "cs", "flags", "sp", "ss")
PT_REGS_SIZE = 8 * len(PT_REGS)
SLOT = {name: 8 * i for i, name in enumerate(PT_REGS)}
GENERAL = list(PT_REGS[:15])
CALLER_SAVED = ["r11", "r10", "r9", "r8", "rcx", "rdx", "rsi", "rdi", "rax"]

# Placeholders for movabs immediates, replaced by relocations (each must occur once).
_MARKERS = {Target.HOOK: 0x5A5A_B7F0_0000_0001, Target.DISPATCH_ENTRY: 0x5A5A_B7F0_0000_0002,
            Target.DISPATCH_RETURN: 0x5A5A_B7F0_0000_0003}


def _save(frame: int, flags: bool) -> list[str]:
    """Build pt_regs at rsp in a frame of `frame` bytes (rsp on entry = rsp + frame);
    `flags`: record rflags too (pushfq right after a return costs ~10 ns here)."""
    lines = [f"lea rsp, [rsp - {frame}]", f"mov [rsp + {SLOT['rax']}], rax"]
    if flags:
        lines += ["pushfq", f"pop qword ptr [rsp + {SLOT['flags']}]"]
    lines += [f"mov [rsp + {SLOT[r]}], {r}" for r in GENERAL if r != "rax"]
    lines += [f"lea rax, [rsp + {frame}]", f"mov [rsp + {SLOT['sp']}], rax"]
    return lines


def _call(dispatcher: Target) -> list[str]:
    return [f"movabs rdi, {_MARKERS[Target.HOOK]:#x}", "mov rsi, rsp",
            f"movabs rax, {_MARKERS[dispatcher]:#x}", "call rax"]


def _restore() -> list[str]:
    return [f"mov {r}, [rsp + {SLOT[r]}]" for r in CALLER_SAVED]


def _assemble(lines: list[str]) -> tuple[bytes, list[Reloc]]:
    import keystone

    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_64)
    encoding, _ = ks.asm("\n".join(lines), 0)
    code = bytes(encoding)
    relocs = []
    for target, marker in _MARKERS.items():
        needle = struct.pack("<Q", marker)
        if code.count(needle) > 1:
            raise AssertionError(f"trampoline marker for {target.name} occurs twice")
        at = code.find(needle)
        if at >= 0:
            relocs.append(Reloc(at, RelocKind.ABS64, target, 0))
            code = code.replace(needle, b"\0" * 8)
    return code, relocs


@cache
def return_trampoline() -> tuple[bytes, tuple[Reloc, ...]]:
    """Entered by `ret` (rsp 16-aligned, rax = return value); jumps to the original
    return address that the dispatcher returns. A jmp, not a ret: the host's own ret
    already consumed the return-stack-buffer entry, and another ret would mispredict
    here and leave every later return of the caller mispredicted too. The address is
    read from just below rsp, inside the red zone signal frames never touch."""
    frame = PT_REGS_SIZE + 8
    code, relocs = _assemble(_save(frame, flags=False) + _call(Target.DISPATCH_RETURN) + [
        f"mov [rsp + {PT_REGS_SIZE}], rax", *_restore(), f"lea rsp, [rsp + {frame}]",
        "jmp qword ptr [rsp - 8]"])
    return code, tuple(relocs)


@cache
def entry_trampoline() -> tuple[bytes, tuple[Reloc, ...]]:
    """Entered at the entry's state (rsp = 8 mod 16); falls through into the displaced
    instructions, which the planner appends."""
    frame = PT_REGS_SIZE
    code, relocs = _assemble(_save(frame, flags=True) + _call(Target.DISPATCH_ENTRY) + [
        "test eax, eax", "jz cont", *_restore(), f"lea rsp, [rsp + {frame}]", "ret",
        "cont:", *_restore(), f"lea rsp, [rsp + {frame}]"])
    return code, tuple(relocs)


def build(displaced: bytes, displaced_relocs: list[Reloc], resume: int | None) -> tuple[bytes, list[Reloc], int, int]:
    """The hook's code: (code, relocations, entry trampoline offset, return trampoline
    offset). `resume` is where execution continues after the displaced instructions
    (relative to the entry), None when they never fall through."""
    ret_code, ret_relocs = return_trampoline()
    entry_code, entry_relocs = entry_trampoline()
    code = bytearray(ret_code)
    code += b"\xcc" * (-len(code) % 16)
    entry_off = len(code)
    relocs = list(ret_relocs) + [r.shifted(entry_off) for r in entry_relocs]
    code += entry_code
    block = len(code)
    code += displaced
    relocs += [r.shifted(block) for r in displaced_relocs]
    if resume is None:
        code += b"\x0f\x0b"  # ud2: the displaced code ends in ret/jmp
    else:
        code += b"\xe9"
        relocs.append(Reloc(len(code), RelocKind.REL32, Target.ENTRY, resume, len(code) + 4))
        code += b"\0\0\0\0"
    return bytes(code), relocs, entry_off, 0
