"""Compute benchmark: the interpreter, the JIT and the kernel on the same programs.

Builds bench/programs/*.bpf.c (XDP programs) with clang, runs each on the same
1,500-byte packet through
  - interp: the reference interpreter (bpftime.runner engine "interp"),
  - jit:    bpftime's JIT (engine "jit"; a native loop, thread CPU time per run),
(the programs run unverified here: `--verify` reports bpftime's verifier's verdict),
  - kernel: BPF_PROG_TEST_RUN via `bpftool prog load` + `bpftool prog run … repeat N`,
checks that all three give the same r0 (the kernel reports it as a u32), and prints
ns/run, JIT/kernel and interp/JIT ratios with their geometric means, and the compile
time of a 1,000-instruction program. Not a test: numbers are noisy on a busy machine.

    python bench/jit_compute.py [--repeat N] [--rounds N] [--programs checksum,sieve,…] [--verify]
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bpftime.errors import BpftimeError  # noqa: E402
from bpftime.isa import FP, Alu, Cls, Insn, Jmp, Mode, Size, Src  # noqa: E402
from bpftime.jit.codegen import compile_program  # noqa: E402
from bpftime.runner import ENGINES, load_runnable, verify  # noqa: E402

PROGRAMS = REPO / "bench" / "programs"
INCLUDE = REPO / "tests" / "programs" / "include"
BUILD = REPO / "bench" / "build"
PACKET_LEN = 1500
INTERP_BUDGET_NS = 300_000_000  # CPU time spent per program in the interpreter


def build(source: Path) -> Path:
    BUILD.mkdir(exist_ok=True)
    obj = BUILD / (source.name.removesuffix(".c") + ".o")
    deps = [source, PROGRAMS / "bench.h"]
    if not obj.exists() or obj.stat().st_mtime < max(d.stat().st_mtime for d in deps):
        subprocess.run(["clang", "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86",
                        "-I", str(PROGRAMS), "-I", str(INCLUDE), "-c", str(source), "-o", str(obj)],
                       check=True)
    return obj


def packet() -> bytes:
    """Deterministic bytes with no 'b' except a few decoys and the needle near the end."""
    rng = random.Random(7)
    data = bytearray(rng.randrange(256) for _ in range(PACKET_LEN)).replace(b"b", b"c")
    data[100] = data[500] = ord("b")
    data[1400:1408] = b"bpftime!"
    return bytes(data)


# --- engines -------------------------------------------------------------------------
def run_jit(obj: Path, data: bytes, repeat: int) -> tuple[int, float]:
    """The jit engine (compiled and linked as `bpftime run --engine jit` does)."""
    return ENGINES["jit"](load_runnable(obj, mem=data)).timed(data, repeat)


def verifier_verdict(obj: Path) -> str | None:
    """None if bpftime's verifier accepts the program, else its message."""
    try:
        verify(load_runnable(obj))
    except BpftimeError as err:
        return str(err)
    return None


def run_interp(obj: Path, data: bytes, repeat: int) -> tuple[int, float]:
    """The interp engine, run until `repeat` runs or INTERP_BUDGET_NS of CPU time:
    (r0 of the first run, on a fresh load; mean ns per run)."""
    executor = ENGINES["interp"](load_runnable(obj, mem=data))
    t0 = time.thread_time_ns()
    first, _ = executor(data)
    runs = 1
    while runs < repeat and time.thread_time_ns() - t0 < INTERP_BUDGET_NS:
        executor(data)
        runs += 1
    return first, (time.thread_time_ns() - t0) / runs


class Kernel:
    """Programs loaded into the kernel with bpftool, pinned in a bpffs."""

    def __init__(self) -> None:
        self.reason = self._unavailable()
        self.dir = Path(tempfile.mkdtemp(prefix="bpftime-bench-"))
        self.mounted = False
        if self.reason is None and not _is_bpffs(Path("/sys/fs/bpf")):
            proc = subprocess.run(["mount", "-t", "bpf", "bpf", str(self.dir)], capture_output=True, text=True)
            if proc.returncode:
                self.reason = "cannot mount a bpffs: " + proc.stderr.strip()
            self.mounted = proc.returncode == 0
        self.pins = self.dir if self.mounted else Path("/sys/fs/bpf")

    @staticmethod
    def _unavailable() -> str | None:
        if os.geteuid() != 0:
            return "needs root"
        if shutil.which("bpftool") is None:
            return "bpftool is not installed"
        return None

    def run(self, obj: Path, data_file: Path, repeat: int) -> tuple[int, float] | str:
        """(retval, ns per run), or why the kernel refused the program."""
        pin = self.pins / f"bpftime_bench_{obj.stem.replace('.', '_')}_{os.getpid()}"
        load = subprocess.run(["bpftool", "prog", "load", str(obj), str(pin), "type", "xdp"],
                              capture_output=True, text=True)
        if load.returncode:
            lines = [ln for ln in load.stderr.splitlines() if "processed" in ln.lower() or "error" in ln.lower()]
            return "refused: " + (lines[0] if lines else "load failed")
        try:
            out = subprocess.run(["bpftool", "prog", "run", "pinned", str(pin), "data_in", str(data_file),
                                  "repeat", str(repeat)], capture_output=True, text=True)
            m = re.search(r"Return value: (\d+), duration(?: \(average\))?: (\d+)ns", out.stdout + out.stderr)
            if not m:
                return "test_run failed: " + (out.stderr.strip().splitlines() or ["?"])[-1]
            return int(m.group(1)), float(m.group(2))
        finally:
            pin.unlink(missing_ok=True)

    def close(self) -> None:
        if self.mounted:
            subprocess.run(["umount", str(self.dir)], check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


def _is_bpffs(path: Path) -> bool:
    try:
        with open("/proc/mounts") as mounts:
            return any(line.split()[1] == str(path) and line.split()[2] == "bpf" for line in mounts)
    except OSError:
        return False


# --- compile time --------------------------------------------------------------------
def thousand_instructions() -> list[Insn]:
    """A deterministic 1,000-instruction program: ALU, stack traffic, divisions and
    forward branches."""
    rng = random.Random(1)
    insns = [Insn(Cls.ST | Mode.MEM | Size.DW, FP, 0, -8 * k, k) for k in range(1, 9)]
    while len(insns) < 999:
        kind = rng.randrange(5)
        dst, src = rng.randrange(10), rng.randrange(10)
        if kind == 0:
            insns.append(Insn(Cls.ALU64 | rng.choice([Alu.ADD, Alu.XOR, Alu.MUL, Alu.LSH]), dst,
                              imm=rng.randrange(1, 60)))
        elif kind == 1:
            insns.append(Insn(Cls.ALU | Alu.DIV | Src.X, dst, src, rng.randrange(2)))
        elif kind == 2:
            insns.append(Insn(Cls.LDX | Mode.MEM | Size.DW, dst, FP, -8 * rng.randrange(1, 9)))
        elif kind == 3:
            insns.append(Insn(Cls.STX | Mode.MEM | Size.W, FP, src, -8 * rng.randrange(1, 9)))
        else:
            skip = min(rng.randrange(1, 40), 998 - len(insns))
            insns.append(Insn(Cls.JMP | Jmp.JGT | Src.X, dst, src, skip))
    insns.append(Insn(Cls.JMP | Jmp.EXIT))
    return insns


def compile_ms() -> float:
    prog = thousand_instructions()
    best = math.inf
    for _ in range(5):
        start = time.thread_time_ns()
        compile_program(prog)
        best = min(best, time.thread_time_ns() - start)
    return best / 1e6


# --- report --------------------------------------------------------------------------
def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else math.nan


@dataclasses.dataclass
class Row:
    """One program's measurements; `kernel` is ns per run, or why there is none."""

    name: str
    r0: int
    interp_r0: int
    interp_ns: float
    jit_ns: float
    kernel: float | str = "-"
    kernel_r0: int | None = None

    @property
    def agree(self) -> bool:
        return self.interp_r0 == self.r0 and self.kernel_r0 in (None, self.r0 & 0xFFFFFFFF)


def measure(name: str, obj: Path, data: bytes, data_file: Path, kernel: Kernel,
            repeat: int, rounds: int) -> Row:
    """Correctness first (one run each on a fresh load, so maps start empty), then
    timed rounds alternating the JIT and the kernel so that both see the same load."""
    row = Row(name, run_jit(obj, data, 1)[0], *run_interp(obj, data, repeat), jit_ns=math.inf)
    if not kernel.reason:
        first = kernel.run(obj, data_file, 1)
        row.kernel, row.kernel_r0 = (first, None) if isinstance(first, str) else (math.inf, first[0])
    for _ in range(rounds):
        row.jit_ns = min(row.jit_ns, run_jit(obj, data, repeat)[1])
        if isinstance(row.kernel, float):
            timed = kernel.run(obj, data_file, repeat)
            row.kernel = timed if isinstance(timed, str) else min(row.kernel, timed[1])
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2000, help="runs per program for jit and kernel")
    parser.add_argument("--rounds", type=int, default=5,
                        help="timed rounds of --repeat runs for jit and kernel; the best is kept")
    parser.add_argument("--programs", help="comma-separated names (default: all)")
    parser.add_argument("--verify", action="store_true",
                        help="also report whether bpftime's verifier accepts each program (slow)")
    args = parser.parse_args()
    sources = sorted(PROGRAMS.glob("*.bpf.c"))
    if args.programs:
        wanted = set(args.programs.split(","))
        sources = [s for s in sources if s.name.removesuffix(".bpf.c") in wanted]
    data = packet()
    BUILD.mkdir(exist_ok=True)
    data_file = BUILD / "packet.bin"
    data_file.write_bytes(data)
    kernel = Kernel()
    if kernel.reason:
        print(f"kernel column skipped: {kernel.reason}")
    jit_kernel, interp_jit = [], []
    verdicts: dict[str, str | None] = {}
    print(f"{'program':<12} {'interp ns':>12} {'jit ns':>10} {'kernel ns':>10} "
          f"{'jit/kernel':>10} {'interp/jit':>10}  r0")
    try:
        for source in sources:
            name = source.name.removesuffix(".bpf.c")
            obj = build(source)
            try:
                row = measure(name, obj, data, data_file, kernel, args.repeat, args.rounds)
            except BpftimeError as err:
                print(f"{name:<12} refused by bpftime: {err}")
                continue
            if args.verify:
                verdicts[name] = verifier_verdict(obj)
            interp_jit.append(row.interp_ns / row.jit_ns)
            k_text, ratio_text = str(row.kernel)[:40], "-"
            if isinstance(row.kernel, float):
                jit_kernel.append(row.jit_ns / row.kernel)
                k_text, ratio_text = f"{row.kernel:.0f}", f"{jit_kernel[-1]:.2f}"
            mismatch = "" if row.agree else f"  MISMATCH (interp {row.interp_r0:#x}, kernel {row.kernel_r0})"
            print(f"{name:<12} {row.interp_ns:>12.0f} {row.jit_ns:>10.0f} {k_text:>10} {ratio_text:>10} "
                  f"{interp_jit[-1]:>10.0f}  {row.r0:#x}{mismatch}")
    finally:
        kernel.close()
    print(f"geometric mean: jit/kernel {geomean(jit_kernel):.2f} (below 1: the JIT is faster), "
          f"interp/jit {geomean(interp_jit):.0f}")
    for name, verdict in verdicts.items():
        print(f"bpftime verifier on {name}: {verdict or 'accepted'}")
    print(f"compile time of a 1,000-instruction program: {compile_ms():.1f} ms of CPU (best of 5)")
    print(f"times: best of {args.rounds} rounds of CPU time per run (bpftime) and of the kernel's "
          "test_run average; the machine is shared, so expect noise")
    return 0


if __name__ == "__main__":
    sys.exit(main())
