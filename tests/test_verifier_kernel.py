"""Differential test: bpftime's verifier against the kernel's, on the same programs.

Programs: the unsafe catalogue (assembly and C), the realistic objects of
tests/programs, the safe programs below and the conformance suite's programs that
don't read their input, each loaded into the kernel as its closest program type
(kprobe for pt_regs, tracepoint, xdp) by root. Programs that only
make sense with EIM (host functions and variables, class grants and limits) are not
comparable and are left out. Every disagreement is explained in EXPLAINED.
"""
from __future__ import annotations

import re

from bpftime.asm import assemble
from bpftime.conformance_file import load_conformance
from bpftime.elf import load_object
from bpftime.errors import VerifyError
from bpftime.isa import Pseudo
from bpftime.verifier import (ContextKind, context_for, default_tracing_policy, memory_policy,
                              verify, verify_program)
from bpftime.verifier.liveness import live_registers
from conftest import BUILD, CONFORMANCE, PROGRAMS, build_bpf
from kernel_loader import kernel_verdict
from verifier_catalogue import c_cases, cases, load_case

# Rules where bpftime is deliberately stricter than the kernel for a privileged (root)
# loader, or knows more than the kernel does at load time.
LEAKS = "the kernel lets privileged loaders leak pointers; bpftime refuses unless the class allows it"
UNINIT = ("the kernel lets CAP_PERFMON loaders read uninitialized stack (allow_uninit_stack); "
          "bpftime never does, since user-space stacks hold host data")
NOT_GRANTED = "the kernel grants every kprobe helper to root; bpftime's default class does not"
STACK = ("kernels with private stacks (6.13+) bound each frame of a tracing program by 512 bytes; "
         "bpftime bounds the whole call chain by 512 bytes, as kernels always did")
EXPLAINED = {
    "pointer_leak_return": LEAKS, "pointer_leak_return_map_value": LEAKS,
    "pointer_leak_into_map": LEAKS, "pointer_leak_ctx_into_map": LEAKS,
    "uninit_stack_read": UNINIT, "uninit_stack_partial": UNINIT, "uninit_stack_helper_key": UNINIT,
    "c_stack_uninit": UNINIT,
    "helper_not_granted_send_signal": NOT_GRANTED, "stack_overflow_across_calls": STACK,
    "ctx_oob_sys_exit": ("at load time the kernel bounds tracepoint context reads by the largest "
                         "trace record (PERF_MAX_TRACE_SIZE); bpftime knows sys_exit's 24-byte layout"),
}

SHIFT = ("RFC 9669 masks the count of a shift by an immediate, and the conformance suite runs "
         "such shifts; the kernel refuses counts outside 0..width-1 at load")
CALLX = "the kernel has no `call %reg` (callx); bpftime calls a helper whose id the register holds"
SHIFT_RE = re.compile(r"^conformance/(ar|l|r)sh(32|64)-imm-(high|neg)$")


def explanation(name: str) -> str | None:
    if SHIFT_RE.match(name):
        return SHIFT
    if name == "conformance/callx":
        return CALLX
    return EXPLAINED.get(name)


SAFE_ASM = {
    "div_by_zero": "ldxdw %r2, [%r1+112]\nmov %r0, 7\ndiv %r0, %r2\nmod %r0, %r2\nexit",
    "bounded_loop": "mov %r0, 0\nmov %r2, 0\nl:\nadd %r0, %r2\nadd %r2, 1\njlt %r2, 100, l\nexit",
    "stack_array": "stdw [%r10-16], 1\nstdw [%r10-8], 2\nldxdw %r2, [%r1+112]\nand %r2, 8\n"
                   "mov %r3, %r10\nadd %r3, -16\nadd %r3, %r2\nldxdw %r0, [%r3+0]\nexit",
    "subprogram": "mov %r1, 3\ncall local f\nexit\nf:\nmov %r0, %r1\nadd %r0, 1\nexit",
}


def _ours(insns, maps, policy, **kw) -> tuple[bool, str]:
    try:
        verify(insns, maps=maps, policy=policy, **kw)
        return True, ""
    except VerifyError as err:
        return False, str(err)


def _has_callback(insns) -> bool:
    """Whether the program passes a subprogram's address (bpf_loop): the kernel then
    wants BTF func_info, which this harness does not load."""
    return any(i.is_lddw and i.src == Pseudo.FUNC for i in insns)


def _catalogue():
    """(name, ours, kernel) for the catalogue programs that can be compared."""
    for path in cases():
        case = load_case(path)
        if case.externs or case.policy.class_name != "default":
            continue  # EIM-only rules: nothing to compare with
        if path.stem == "callx_unknown_target":
            continue  # the kernel has no callx at all
        if _has_callback(case.insns):
            continue  # the kernel needs BTF func_info for callbacks
        yield (path.stem, _ours(case.insns, case.maps, case.policy, budget=case.budget),
               kernel_verdict(case.insns, case.maps, case.policy.context))


def _safe():
    policy = default_tracing_policy()
    for name, text in sorted(SAFE_ASM.items()):
        insns = assemble(text)
        yield name, _ours(insns, [], policy), kernel_verdict(insns, [], policy.context)


def _objects():
    """Programs of tests/programs and the C catalogue, except those the kernel can't
    load without more than this harness gives it (EIM externs, inner map fds, BTF)."""
    for src in sorted(PROGRAMS.glob("*.bpf.c")) + c_cases():
        obj = load_object(build_bpf(src, BUILD / "unsafe" if src.parent.name == "unsafe" else BUILD))
        if obj.externs or any(m.inner is not None for m in obj.maps):
            continue
        for prog in obj.programs:
            if _has_callback(prog.insns):
                continue  # callbacks need BTF func_info in the kernel
            if prog.attach.kind not in ("uprobe", "uretprobe", "kprobe", "kretprobe",
                                        "tracepoint", "xdp"):
                continue
            policy = default_tracing_policy(context_for(prog.attach.kind, prog.attach.function))
            try:
                verify_program(prog, obj, policy, budget=30_000)
                ours = (True, "")
            except VerifyError as err:
                ours = (False, str(err))
            yield (src.name.removesuffix(".bpf.c"), ours,
                   kernel_verdict(prog.insns, obj.maps, policy.context))


def _conformance():
    """The conformance suite's programs that don't read r1/r2 (the kernel has no
    program type whose context is plain input memory), loaded as kprobes."""
    for path in sorted((CONFORMANCE / "tests").glob("*.data")):
        case = load_conformance(path)
        if live_registers(case.insns)[0] & 0b110:
            continue
        yield (f"conformance/{path.stem}", _ours(case.insns, [], memory_policy(0)),
               kernel_verdict(case.insns, [], ContextKind.PT_REGS))


def test_agreement_with_kernel(kernel_bpf, capsys):
    rows = [*_catalogue(), *_safe(), *_objects(), *_conformance()]
    agree = [name for name, ours, kernel in rows if ours[0] == kernel[0]]
    unexplained = [f"{name}: bpftime {'accepts' if ours[0] else 'rejects'} ({ours[1]}), the kernel "
                   f"{'accepts' if kernel[0] else 'rejects'} ({kernel[1]})"
                   for name, ours, kernel in rows if ours[0] != kernel[0] and not explanation(name)]
    stale = sorted(set(agree) & set(EXPLAINED))
    with capsys.disabled():
        print(f"\nverifier vs kernel: {len(agree)}/{len(rows)} programs agree; "
              f"{len(rows) - len(agree)} explained disagreements")
    assert len(rows) >= 300
    assert not unexplained, "\n".join(unexplained)
    assert not stale, f"these agree now, drop their explanations: {stale}"
