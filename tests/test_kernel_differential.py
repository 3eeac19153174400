"""Differential tests against the kernel as the reference, on generated programs.

The programs are those of tests/test_jit_vs_interp.py (`programs(kernel=True)`:
straight-line ALU/ALU64 with signed division, shifts, movsx and byte swaps, stack
memory and atomics, branches, bounded loops, bpf-to-bpf calls), half of them with some
registers read from the packet instead of set to constants (`from_packet`), so that
values are unknown to the verifiers and the engines compute on the input. Each is
loaded into the kernel as an XDP program (root, bpf syscall: tests/kernel_loader.py)
and run with BPF_PROG_TEST_RUN on a 128-byte packet; the same program and packet run
as an XDP program in bpftime's interpreter and JIT (`bpftime.runner.ENGINES`). The
kernel reports r0 as a u32, so every program also runs there with `r0 >>= 32` before
its exit: the two halves give the kernel's whole r0. Programs the kernel refuses (a
shift by an immediate out of range, division by a zero immediate) are counted and
left out of the comparison.

Then verdicts: bpftime's verifier and the kernel's on such programs and on unsafe
mutations of programs the kernel accepts (`MUTATIONS`, named as in the unsafe
catalogue). bpftime must never accept what the kernel refuses for a safety reason;
every disagreement must be explained: bpftime stricter where the kernel trusts root
(tests/test_verifier_kernel.py's explanations, by bpftime's message: `OURS_STRICTER`),
the kernel stricter than the instruction set (`KERNEL_ONLY`, misaligned stack accesses
inside the frame), or the unsafe instruction never running (`Case.unsafe_point_runs`).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftime.elf.attach import AttachPoint
from bpftime.elf.model import Program
from bpftime.errors import DecodeError, VerifyError
from bpftime.isa import FP, Alu, Cls, Insn, Jmp, Mode, Size, Src, lddw
from bpftime.policy import ContextKind, memory_policy
from bpftime.runner import ENGINES, Runnable
from bpftime.verifier import verify
from conftest import kernel_bpf_available
from jit_support import require_native_images
from kernel_loader import kernel_program, kernel_verdict, prog_test_run
from test_jit_vs_interp import flat, programs
from test_verifier_kernel import SHIFT, explanation

PACKET = bytes((i * 37 + 11) & 0xFF for i in range(128))
# what `bpftime run` proves for an XDP program on this packet (bpftime.runner.verify)
POLICY = replace(memory_policy(len(PACKET)), context=ContextKind.XDP)
BUDGET = 100_000   # below the kernel's 1M: a refusal for size would only make bpftime stricter
EXAMPLES = 150
DIV_IMM_ZERO = ("RFC 9669 defines division by zero (the result is 0, the modulo the dividend), "
                "as bpftime does; the kernel refuses a zero immediate divisor at load")
DEAD_CODE = ("the unsafe instruction never runs (the program's run does not reach it): bpftime's "
             "value tracking proves its branch dead where the kernel's does not (e.g. results of "
             "division and modulo, which the kernel leaves unknown)")
MISALIGNED = ("x86-64 has no alignment faults and bpftime tracks the stack byte by byte (a "
              "spilled pointer partly overwritten or partly read is refused); the kernel refuses "
              "misaligned stack accesses, since it tracks spills by 8-byte slots")
# the kernel's refusals (by the start of its log's last line) where it is stricter than
# the instruction set, not than safety: bpftime accepting these is explained
KERNEL_ONLY = {"invalid shift": SHIFT, "div by zero": DIV_IMM_ZERO}
# the offset is the variable part (a constant, or a tnum "(value; mask)"), the register's and the insn's
MISALIGNED_RE = re.compile(r"misaligned stack access off (?:\((\w+); (\w+)\)|(-?\w+))"
                           r"\+(-?\d+)\+(-?\d+) size (\d+)$")
MARKER = 0x5EED0F_C0FFEE
# bpftime's refusals (by a pattern of its message) where it is stricter than the kernel
# for root, named as in the unsafe catalogue: tests/test_verifier_kernel.py explains them
# (root may also turn a pointer into a number by a 32-bit subtraction)
OURS_STRICTER = {"uninitialized stack": "uninit_stack_read", "pointer leak": "pointer_leak_return",
                 r"`sub32 [^`]*`: 32-bit arithmetic on pointer": "pointer_leak_return"}

SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


@pytest.fixture(scope="module", autouse=True)
def _native() -> None:
    require_native_images()


def insert(insns: list[Insn], at: int, new: list[Insn]) -> list[Insn]:
    """`new` inserted before slot `at`, every jump and local call fixed so that it
    reaches the instruction it reached before (a jump to `at` reaches `new`)."""
    n = len(new)

    def moved(index: int, target: bool) -> int:
        return index if index < at or (target and index == at) else index + n

    out = []
    for pc, insn in enumerate(insns):
        target = insn.jump_target(pc)
        if target is not None:
            delta = moved(target, True) - moved(pc, False) - 1
            field = "imm" if insn.is_local_call or insn.opcode == Cls.JMP32 | Jmp.JA else "off"
            insn = replace(insn, **{field: delta})
        out.append(insn)
    return out[:at] + new + out[at:]


def main_exit(insns: list[Insn]) -> int:
    """The main function's exit: the generators put no other exit before it."""
    return next(pc for pc, insn in enumerate(insns) if insn.is_exit)


def high_half(insns: list[Insn]) -> list[Insn]:
    """The program returning the upper 32 bits of its r0 (the kernel gives a u32)."""
    return insert(insns, main_exit(insns), [Insn(Cls.ALU64 | Alu.RSH, 0, imm=32)])


PREFIX = [Insn(Cls.LDX | Mode.MEM | Size.W, 9, 1, 0), Insn(Cls.LDX | Mode.MEM | Size.W, 3, 1, 4),
          Insn(Cls.ALU64 | Alu.MOV | Src.X, 2, 9), Insn(Cls.ALU64 | Alu.ADD, 2, imm=72),
          Insn(Cls.ALU64 | Alu.MOV, 0, imm=0), Insn(Cls.JMP | Jmp.JGT | Src.X, 2, 3)]


def from_packet(insns: list[Insn], loaded: int) -> list[Insn]:
    """The program with the registers of the bit set `loaded` (of r0..r8) read from the
    packet instead of set to constants, so that the verifiers see unknown values: a
    prefix reads ctx->data into r9 and checks 72 bytes against ctx->data_end (a short
    packet goes to the exit with r0 = 0); each chosen `lddw rK` becomes
    `ldxdw rK, [r9+8K]; mov rK, rK` (two slots, as lddw)."""
    out = list(insns)
    for k in range(9):
        if loaded >> k & 1:
            out[2 * k:2 * k + 2] = [Insn(Cls.LDX | Mode.MEM | Size.DW, k, 9, 8 * k),
                                    Insn(Cls.ALU64 | Alu.MOV | Src.X, k, k)]
    exit_ = main_exit(out) + len(PREFIX)
    return insert(out, 0, PREFIX[:-1] + [replace(PREFIX[-1], off=exit_ - len(PREFIX))])


@st.composite
def inputs(draw) -> list[Insn]:
    """A generated program, half the time with registers read from the packet."""
    insns = draw(programs(kernel=True))
    loaded = draw(st.sampled_from([0, 0, 0x1FF, 0x0F0, 0x00F, 0x155])) if draw(st.booleans()) else 0
    return from_packet(insns, loaded) if loaded else insns


def kernel_r0(insns: list[Insn]) -> int | str:
    """The kernel's r0 (64 bits) on PACKET, or its verifier's refusal."""
    halves = []
    for variant in (insns, high_half(insns)):
        with kernel_program(variant, [], ContextKind.XDP) as (fd, refusal):
            if fd is None:
                return refusal
            halves.append(prog_test_run(fd, PACKET))
    return halves[1] << 32 | halves[0]


def engine_r0(insns: list[Insn], engine: str) -> int:
    """r0 of `insns` run as an XDP program on PACKET (as `bpftime run` runs one)."""
    program = Program("generated", "xdp", AttachPoint("xdp"), insns)
    run = ENGINES[engine](Runnable("generated", insns, PACKET, "elf", program=program))
    return run(PACKET)[0]


def test_engines_agree_with_kernel(kernel_bpf, capsys) -> None:
    refused: list[str] = []
    compared = 0

    @SETTINGS
    @given(inputs())
    def check(insns: list[Insn]) -> None:
        nonlocal compared
        kernel = kernel_r0(insns)
        if isinstance(kernel, str):
            refused.append(kernel)
            return
        compared += 1
        interp, jit = engine_r0(insns, "interp"), engine_r0(insns, "jit")
        assert (interp, jit) == (kernel, kernel), \
            f"kernel {kernel:#x}, interpreter {interp:#x}, jit {jit:#x}"

    check()
    total = compared + len(refused)
    with capsys.disabled():
        print(f"\nengines vs kernel: {total} programs generated, {compared} run and compared "
              f"(all agree), {len(refused)} refused by the kernel")
    assert compared >= total // 2, f"too few compared; the kernel refused: {sorted(set(refused))}"


@dataclass(frozen=True)
class Case:
    """A program to verify: generated, or a generated one (`base`) made unsafe at slot
    `at` (None if the mutation is not an inserted instruction)."""

    kind: str          # "generated", or the unsafe catalogue's name for the mutation
    insns: list[Insn]
    base: list[Insn] | None = None
    at: int | None = None

    def unsafe_point_runs(self) -> bool:
        """Whether a run of the program reaches the inserted unsafe instruction: the
        base program (safe, and not reading its input) returning a marker there."""
        if self.base is None or self.at is None or self.base[0] == PREFIX[0]:
            return True   # or it depends on the packet: one run proves nothing
        marked = insert(self.base, self.at, [*flat([lddw(0, MARKER)]), Insn(Cls.JMP | Jmp.EXIT)])
        return engine_r0(marked, "interp") == MARKER


def kernel_only(refusal: str) -> str | None:
    """Why the kernel refusing `refusal` is no safety verdict, or None if it is one."""
    m = MISALIGNED_RE.match(refusal)
    if m:   # only when the access is inside the frame: the kernel checks alignment first
        value, mask, const, reg_off, off, size = (int(g, 0) for g in m.groups(default="0"))
        low = value + const + reg_off + off
        return MISALIGNED if -512 <= low and low + mask + size <= 0 else None
    return next((why for start, why in KERNEL_ONLY.items() if refusal.startswith(start)), None)


def explain(case: Case, ours: tuple[bool, str], kernel: tuple[bool, str]) -> str | None:
    """Why bpftime's verdict differs from the kernel's, if that is explained."""
    (accepted, why_ours), (_, why_kernel) = ours, kernel
    if accepted:
        return kernel_only(why_kernel) or (None if case.unsafe_point_runs() else DEAD_CODE)
    return next((explanation(name) for pattern, name in OURS_STRICTER.items()
                 if re.search(pattern, why_ours) and explanation(name)), None)


def ours(insns: list[Insn]) -> tuple[bool, str]:
    try:
        verify(insns, maps=[], policy=POLICY, budget=BUDGET)
        return True, ""
    except (VerifyError, DecodeError) as err:
        return False, str(err)


SIZES = {1: Size.B, 2: Size.H, 4: Size.W, 8: Size.DW}
# each a way of making a program unsafe, by the unsafe catalogue's name for it
# (tests/programs/unsafe); the last one is sometimes safe
MUTATIONS = ["uninit_register", "uninit_stack_read", "stack_oob_below_frame",
             "stack_oob_above_frame", "scalar_deref", "unbounded_loop_same_state",
             "pointer_leak_return", "stack_computed_address", "stack_oob_variable_offset"]
KERNEL_REFUSES = {"uninit_register": 0.5, "stack_oob_below_frame": 0.8, "stack_oob_above_frame": 0.8,
                  "scalar_deref": 0.5, "unbounded_loop_same_state": 0.5}   # least share refused


def kernel_accepts(insns: list[Insn]) -> bool:
    return kernel_verdict(insns, [], ContextKind.XDP)[0]


@st.composite
def mutated(draw, kind: str) -> Case:
    """A generated program the kernel accepts, made unsafe at a point of its main
    function in the way `kind` says."""
    insns = draw(inputs().filter(kernel_accepts))
    init = len(PREFIX) if insns[0] == PREFIX[0] else 0
    first, exit_ = init + 28, main_exit(insns)   # after the registers' and stack's initialisation
    at = draw(st.integers(first, exit_))
    if insns[at - 1].is_lddw:
        at -= 1
    reg, size, load = draw(st.integers(0, 8)), draw(st.sampled_from([1, 2, 4, 8])), draw(st.booleans())

    def access(base: int, off: int) -> Insn:
        if load:
            return Insn(Cls.LDX | Mode.MEM | SIZES[size], reg, base, off)
        return Insn(Cls.STX | Mode.MEM | SIZES[size], base, reg, off)

    def at_point(*new: Insn) -> Case:
        return Case(kind, insert(insns, at, list(new)), insns, at)

    if kind == "uninit_register":             # r2..r9 never set: r0 is set instead
        k = init + 2 * draw(st.integers(2, 9))
        second = replace(insns[k + 1], dst=0, src=0) if insns[k + 1].opcode else insns[k + 1]
        return Case(kind, insns[:k] + [replace(insns[k], dst=0), second] + insns[k + 2:])
    if kind == "uninit_stack_read":           # below the 64 bytes the program sets
        return at_point(Insn(Cls.LDX | Mode.MEM | Size.DW, reg, FP, -8 * draw(st.integers(9, 64))))
    if kind == "stack_oob_below_frame":
        return at_point(access(FP, draw(st.sampled_from([-513, -520, -1024]))))
    if kind == "stack_oob_above_frame":
        return at_point(access(FP, draw(st.sampled_from([0, 8, 1 - size]))))
    if kind == "scalar_deref":
        return at_point(access(draw(st.integers(0, 8)), draw(st.sampled_from([0, -8, 16]))))
    if kind == "unbounded_loop_same_state":   # `if rN >= 0 goto self`: always taken
        return at_point(Insn(Cls.JMP | Jmp.JGE, reg, 0, -1, 0))
    if kind == "stack_computed_address":      # r10 plus a constant, in a register or not
        total, part = draw(st.integers(-540, 24)), draw(st.integers(-16, 16))
        base = draw(st.integers(0, 8).filter(lambda r: r != reg or not load))
        add = [Insn(Cls.ALU64 | Alu.ADD, base, imm=total - part)]
        if draw(st.booleans()):
            other = (base + 1) % 9
            add = [Insn(Cls.ALU64 | Alu.MOV, other, imm=total - part),
                   Insn(Cls.ALU64 | Alu.ADD | Src.X, base, other)]
        return at_point(Insn(Cls.ALU64 | Alu.MOV | Src.X, base, FP), *add, access(base, part))
    if kind == "stack_oob_variable_offset":   # r10 - C + (rK & M): a range of addresses
        k, a, b = draw(st.permutations(range(9)))[:3]
        mask, low = draw(st.sampled_from([0x7, 0x3F, 0xFF, 0x1FF, 0x3FF])), draw(st.integers(-560, 0))
        return at_point(Insn(Cls.ALU64 | Alu.MOV | Src.X, a, k), Insn(Cls.ALU64 | Alu.AND, a, imm=mask),
                        Insn(Cls.ALU64 | Alu.MOV | Src.X, b, FP), Insn(Cls.ALU64 | Alu.ADD, b, imm=low),
                        Insn(Cls.ALU64 | Alu.ADD | Src.X, b, a),
                        access(b, draw(st.sampled_from([0, -8, 8]))))
    assert kind == "pointer_leak_return"
    return Case(kind, insert(insns, exit_, [Insn(Cls.ALU64 | Alu.MOV | Src.X, 0, FP)]), insns, exit_)


def test_verifier_agrees_with_kernel(kernel_bpf, capsys) -> None:
    rows: list[tuple[str, bool, bool]] = []     # kind, bpftime accepts, the kernel accepts
    explained: dict[str, int] = {}
    problems: list[str] = []

    def collect(strategy: st.SearchStrategy[Case], examples: int) -> None:
        @settings(SETTINGS, max_examples=examples)
        @given(strategy)
        def check(case: Case) -> None:
            (accepted, why_ours), (kernel, why_kernel) = verdicts = \
                ours(case.insns), kernel_verdict(case.insns, [], ContextKind.XDP)
            rows.append((case.kind, accepted, kernel))
            if accepted == kernel:
                return
            why = explain(case, *verdicts)
            if why is None:
                problems.append(f"{case.kind}: bpftime {'accepts' if accepted else 'rejects'} "
                                f"({why_ours}), the kernel {'accepts' if kernel else 'rejects'} "
                                f"({why_kernel})")
            else:
                explained[why] = explained.get(why, 0) + 1
        check()

    collect(inputs().map(lambda insns: Case("generated", insns)), EXAMPLES)
    for kind in MUTATIONS:
        collect(mutated(kind), EXAMPLES // 5)
    with capsys.disabled():
        print(f"\nverifier vs kernel: {sum(o == k for _, o, k in rows)}/{len(rows)} verdicts agree; "
              f"by kind (agree/total, refused by the kernel):")
        for kind in ["generated", *MUTATIONS]:
            mine = [(o, k) for name, o, k in rows if name == kind]
            print(f"  {kind}: {sum(o == k for o, k in mine)}/{len(mine)}, {sum(not k for _, k in mine)}")
        for why, count in sorted(explained.items(), key=lambda item: -item[1]):
            print(f"  explained {count}x: {why[:90]}…")
    assert not problems, "\n".join(problems)
    for kind, share in KERNEL_REFUSES.items():
        refused = [not k for name, _, k in rows if name == kind]
        assert sum(refused) >= share * len(refused), f"{kind}: the kernel accepts too many"


@pytest.mark.parametrize("fetch", ["lock fetch add [%r10-8], %r1", "lock xchg32 [%r10-8], %r1",
                                   "lock cmpxchg [%r10-8], %r1\nmov %r1, %r0"])
def test_atomic_fetch_gives_the_spilled_constant(fetch: str) -> None:
    """Found by the differential test: a fetch from a stack slot holding a known
    constant loads that constant (the kernel simulates a fill; bpftime gave an unknown
    scalar, then refused this program's stack access at fp-32 + r1 as unbounded)."""
    from bpftime.asm import assemble

    insns = assemble(f"stdw [%r10-8], 24\nmov %r1, 0\nmov %r0, 24\n{fetch}\nmov %r2, %r10\n"
                     "add %r2, -32\nadd %r2, %r1\nldxdw %r3, [%r2+0]\nmov %r0, %r1\nexit")
    assert ours(insns) == (True, "")
    assert engine_r0(insns, "jit") == engine_r0(insns, "interp") == 24
    if kernel_bpf_available() is None:
        assert kernel_verdict(insns, [], ContextKind.XDP) == (True, "")
