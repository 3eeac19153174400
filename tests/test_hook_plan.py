"""Hook planning: the strategy each prologue gets and how displaced code is relocated."""
from __future__ import annotations

import struct
from pathlib import Path

import pytest

from bpftime.errors import LoadError
from bpftime.hook.plan import HookPlan, Strategy, plan_hook
from bpftime.hook.relocate import RelocKind, Target, decode, relocate
from bpftime.hook.resolve import resolve_entry
from native_hooks.build import HERE, targets_library


@pytest.fixture(scope="module")
def targets() -> Path:
    return targets_library(HERE / "build", "-O2")


def plan(targets: Path, name: str) -> HookPlan:
    return plan_hook(resolve_entry(targets, name))


def block_relocs(p: HookPlan) -> list:
    """Relocations of the displaced instructions and the jump back (ENTRY/TRAMP)."""
    return [r for r in p.relocs if r.target in (Target.ENTRY, Target.TRAMP)]


@pytest.mark.parametrize("name, strategy, displaced", [
    ("add_global", Strategy.JMP, ("endbr64", "mov rdx, qword ptr [rip + ")),
    ("table_addr", Strategy.JMP, ("endbr64", "lea rax, [rip + ")),
    ("add_jcc", Strategy.JMP, ("test edi, edi", "js ", "lea eax, [rdi + rsi]")),
    ("add_call", Strategy.JMP, ("sub rsp, 8", "call ")),
    ("add_leaf", Strategy.PADDING, ("lea eax, [rdi + rsi]", "ret")),
    ("add_loop", Strategy.INT3, ("mov eax, edi",)),
    ("add_tiny", Strategy.INT3, ("lea eax, [rdi + rsi]",)),
])
def test_strategy_per_prologue(targets, name, strategy, displaced):
    p = plan(targets, name)
    assert p.strategy == strategy
    assert len(p.displaced) == len(displaced)
    assert all(got.startswith(want) for got, want in zip(p.displaced, displaced))
    if strategy == Strategy.INT3:
        assert p.patch == b"\xcc" and len(p.original) == 1
    else:
        assert p.patch[:1] == b"\xe9" and len(p.patch) == len(p.original) >= 5
        assert set(p.patch[5:]) <= {0xCC}


def test_rip_relative_operand_keeps_its_target(targets):
    entry = resolve_entry(targets, "table_addr")
    p = plan_hook(entry)
    lea = decode(entry.body)[1]
    target = lea.end + struct.unpack_from("<i", lea.raw, lea.rip_disp_offset)[0]
    [reloc] = [r for r in block_relocs(p) if r.target == Target.ENTRY and r.addend != lea.end]
    assert reloc.kind == RelocKind.REL32 and reloc.addend == target
    # the rewritten instruction is the same lea, with its displacement left to the agent
    assert p.code[reloc.offset - 3:reloc.offset] == lea.raw[:3]
    assert reloc.pc == reloc.offset + 4


def test_short_jcc_is_widened_and_keeps_its_target(targets):
    p = plan(targets, "add_jcc")
    js_target = 8  # `js 1f` in prologues.S: the xor after ret
    [reloc] = [r for r in block_relocs(p) if r.addend == js_target]
    assert p.code[reloc.offset - 2:reloc.offset] == b"\x0f\x88"  # js rel32
    assert reloc.target == Target.ENTRY


def test_call_is_retargeted_and_execution_resumes_after_the_displaced_bytes(targets):
    p = plan(targets, "add_call")
    zero = resolve_entry(targets, "zero").vaddr - p.vaddr
    assert {r.addend for r in block_relocs(p)} == {zero, len(p.original)}
    call = next(r for r in block_relocs(p) if r.addend == zero)
    assert p.code[call.offset - 1] == 0xE8


def test_branch_target_inside_the_patch_forces_a_trap(targets):
    """add_loop jumps back to +2: a 5-byte jmp would cut that instruction in half."""
    p = plan(targets, "add_loop")
    assert p.strategy == Strategy.INT3
    resume = [r for r in block_relocs(p) if r.addend == 2]
    assert resume, "the trampoline continues at entry+2, after the one displaced insn"


def test_padding_only_when_the_fill_is_provable(targets):
    leaf = resolve_entry(targets, "add_leaf")
    p = plan_hook(leaf)
    assert p.original == leaf.body + leaf.after[:1]
    assert p.code.endswith(b"\x0f\x0b")  # displaced code ends in ret: nothing to resume
    tiny = resolve_entry(targets, "add_tiny")
    assert tiny.after == b""  # add_tiny_next starts right after it


def test_entry_inside_a_function(targets):
    """name+offset: on an instruction boundary it is planned; elsewhere refused."""
    p = plan(targets, "add_jcc+4")  # lea eax,[rdi+rsi]; ret  (then xor; ret follow)
    assert p.displaced[0] == "lea eax, [rdi + rsi]"
    with pytest.raises(LoadError, match=r"add_jcc\+0x5: not at an instruction boundary"):
        plan(targets, "add_jcc+5")


def test_wire_form_round_trips_and_rejects_garbage(targets):
    p = plan(targets, "add_jcc")
    data = p.to_bytes()
    back = HookPlan.from_bytes(data)
    assert back.to_bytes() == data and back.relocs == p.relocs
    with pytest.raises(LoadError, match="hook plan"):
        HookPlan.from_bytes(data[:-3])
    with pytest.raises(LoadError, match="hook plan"):
        HookPlan.from_bytes(b"XXXX" + data[4:])


@pytest.mark.parametrize("which", ["entry_offset", "return_offset"])
def test_trampolines_build_pt_regs_in_kernel_layout(targets, which):
    """Both trampolines store each register at its struct pt_regs offset."""
    p = plan(targets, "add_global")
    stores = {}
    for ins in decode(p.code[getattr(p, which):]):
        if ins.mnemonic == "mov" and ins.op_str.startswith("qword ptr [rsp"):
            where, reg = ins.op_str.split("], ")
            offset = int(where.split("+ ")[1], 0) if "+" in where else 0
            stores.setdefault(reg, offset)
        if ins.mnemonic == "call":
            break
    layout = ["r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx",
              "rdx", "rsi", "rdi"]
    assert {reg: stores[reg] for reg in layout} == {reg: 8 * i for i, reg in enumerate(layout)}


def test_relocation_of_branches_inside_and_outside_the_block():
    # bnd jmp +0 (to the je); je +0 (hinted, to the call); call rel32 (to the end)
    insns = decode(bytes.fromhex("f2eb00" "3e7400" "e800000000"), 10)
    code, relocs = relocate(insns, "t")
    assert code == bytes.fromhex("e900000000" "0f8400000000" "e800000000")
    assert [(r.offset, r.target, r.addend, r.pc) for r in relocs] == [
        (1, Target.TRAMP, 5, 5),     # the je, at its new place in the block
        (7, Target.TRAMP, 11, 11),   # the call, likewise
        (12, Target.ENTRY, 21, 16),  # the call's target stays where it was
    ]


@pytest.mark.parametrize("hexcode, what", [("e2fe", "loop"), ("e3fe", "jrcxz"), ("c7f800000000", "xbegin")])
def test_branches_without_a_rel32_form_are_refused(hexcode, what):
    with pytest.raises(LoadError, match=f"cannot relocate '{what}"):
        relocate(decode(bytes.fromhex(hexcode)), "t")
