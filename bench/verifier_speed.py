"""How fast the verifier is: programs of 100, 1,000 and 4,000 instructions made of
branches (diamonds on context values), bounded loops and straight-line arithmetic
with stack traffic, verified under the default tracing class.

Prints, per size: instructions, instructions processed, seconds, µs per processed
instruction, and the proven instruction bound; then the same for the clang-built
XDP loops of bench/programs; then the time to reject an unbounded loop (which only
the budget of processed instructions ends). A 4,000-instruction program must verify
in under 2 s.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bpftime.asm import assemble  # noqa: E402
from bpftime.errors import VerifyError  # noqa: E402
from bpftime.verifier import BUDGET, default_tracing_policy, verify  # noqa: E402

ARG_OFFSETS = (112, 104, 96, 88, 72, 64)


def block(rng: random.Random, n: int) -> str:
    """One block of about ten instructions; labels are numbered by `n`."""
    kind = n % 3
    if kind == 0:   # diamond on an argument, both arms store to the stack
        off = rng.choice(ARG_OFFSETS)
        return (f"ldxdw %r2, [%r6+{off}]\njgt %r2, {rng.randint(1, 999)}, big{n}\n"
                f"mov %r3, %r2\nadd %r3, 7\nstxdw [%r10-16], %r3\nja join{n}\n"
                f"big{n}:\nmov %r3, {rng.randint(0, 99)}\nstxdw [%r10-16], %r3\n"
                f"join{n}:\nldxdw %r4, [%r10-16]\nadd %r7, %r4\n")
    if kind == 1:   # bounded loop over a small array on the stack
        trips = rng.randint(2, 5)
        return (f"mov %r2, 0\nloop{n}:\nmov %r3, %r2\nand %r3, 3\nlsh %r3, 3\nmov %r4, %r10\n"
                f"add %r4, -48\nadd %r4, %r3\nstxdw [%r4+0], %r2\nadd %r2, 1\n"
                f"jlt %r2, {trips}, loop{n}\n")
    return (f"mov %r2, %r7\nmul %r2, {rng.randint(3, 99)}\nxor %r2, 0x55\nrsh %r2, 3\n"
            f"stxdw [%r10-8], %r2\nldxdw %r7, [%r10-8]\nand %r7, 0xffff\nadd %r7, 1\n")


def program(size: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    text = ["mov %r6, %r1", "mov %r7, 0", "stdw [%r10-48], 0", "stdw [%r10-40], 0",
            "stdw [%r10-32], 0", "stdw [%r10-24], 0"]
    n = 0
    while sum(1 for line in "\n".join(text).splitlines() if not line.endswith(":")) < size - 3:
        text.append(block(rng, n).rstrip("\n"))
        n += 1
    text += ["mov %r0, %r7", "and %r0, 1", "exit"]
    return "\n".join(text) + "\n"


def row(name: str, n: int, verify_once) -> float:
    start = time.perf_counter()
    result = verify_once()
    seconds = time.perf_counter() - start
    print(f"{name:<14} {n:>6} {result.processed:>10} {seconds:>8.3f} "
          f"{1e6 * seconds / result.processed:>8.1f} {result.max_instructions:>10}")
    return seconds


def clang_programs() -> None:
    """The XDP loops of bench/programs (string search, sort, sieve, ...), if clang is here."""
    from bpftime.elf import load_object
    from bpftime.verifier import context_for, verify_program

    clang = shutil.which("clang")
    if clang is None:
        print("(clang not installed: bench/programs skipped)")
        return
    here = Path(__file__).resolve().parent / "programs"
    include = here.parents[1] / "tests" / "programs" / "include"
    with tempfile.TemporaryDirectory() as tmp:
        for src in sorted(here.glob("*.bpf.c")):
            obj_path = Path(tmp) / (src.stem + ".o")
            built = subprocess.run([clang, "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86",
                                    "-I", str(here), "-I", str(include), "-c", str(src),
                                    "-o", str(obj_path)], capture_output=True, text=True)
            if built.returncode:
                print(f"{src.name}: clang failed: {built.stderr.strip().splitlines()[-1]}")
                continue
            obj = load_object(obj_path)
            for prog in obj.programs:
                policy = default_tracing_policy(context_for(prog.attach.kind, prog.attach.function))
                row(prog.name, len(prog.insns), lambda: verify_program(prog, obj, policy))


def unbounded_loop() -> None:
    """tests/programs/unsafe/unbounded_loop_counter.asm under the default budget: its
    state changes every iteration, so nothing prunes it before the budget runs out."""
    text = (ROOT / "tests" / "programs" / "unsafe" / "unbounded_loop_counter.asm").read_text()
    start = time.perf_counter()
    try:
        verify(assemble(text), maps=[], policy=default_tracing_policy(), name="unbounded")
    except VerifyError:
        seconds = time.perf_counter() - start
        print(f"unbounded loop rejected in {seconds:.1f} s "
              f"({1e6 * seconds / BUDGET:.1f} us per processed instruction)")
        return
    print("unbounded loop ACCEPTED")


def main() -> int:
    print(f"{'program':<14} {'insns':>6} {'processed':>10} {'seconds':>8} {'us/insn':>8} {'bound':>10}")
    worst = 0.0
    for size in (100, 1000, 4000):
        insns = assemble(program(size))
        seconds = row(f"generated{size}", len(insns), lambda: verify(
            insns, maps=[], policy=default_tracing_policy(), name=f"bench{size}"))
        worst = max(worst, seconds if size == 4000 else 0.0)
    clang_programs()
    unbounded_loop()
    print(f"4,000 instructions verified in {worst:.2f} s (limit 2 s): {'ok' if worst < 2 else 'TOO SLOW'}")
    return 0 if worst < 2 else 1


if __name__ == "__main__":
    sys.exit(main())
