#!/usr/bin/env python3
"""Per-hit cost of a uprobe: one host function (demo_target of examples/host/demo.c)
called N times, with a counter extension (examples/counter) attached

  - nowhere (the bare call),
  - by bpftime as a uprobe, and as a uretprobe (and an empty extension as a uprobe:
    the cost of the hook alone),
  - by the kernel as a uprobe and a uretprobe (libbpf through ctypes), when allowed,

printing ns/hit, the overhead over the bare call and the ratio kernel / bpftime
overhead; then what the agent adds to a host: resident memory beyond the session's
maps, and start-up delay. Each number is the best of --repeat runs (the least
disturbed by other work on a shared machine); as root the measured processes run
under SCHED_FIFO (chrt -f 50; --no-realtime to not), which keeps other sessions'
work from preempting them. Still, compare ratios more than absolute values.

    python bench/uprobe_overhead.py [--calls N] [--repeat R] [--json]
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))
FUNCTION = "demo_target"
PROGRAM = "count_target"
EMPTY = "nothing"         # the counter object's empty program: the hook's own cost
NS_RE = re.compile(rb"ns_per_call ([0-9.]+)")
PREFIX: list[str] = []    # ["chrt", "-f", "50"] when measuring under SCHED_FIFO


def build() -> tuple[Path, Path]:
    """The demo host (-O2, PIE) and the counter object (examples/build.py)."""
    import build as examples_build

    return examples_build.build_host(), examples_build.build_object("counter")


def ns_per_call(output: bytes) -> float:
    m = NS_RE.search(output)
    if not m:
        raise RuntimeError(f"the host printed no ns_per_call:\n{output.decode(errors='replace')}")
    return float(m.group(1))


def run_bare(host: Path, calls: int) -> float:
    return ns_per_call(subprocess.run([*PREFIX, str(host), "bench", str(calls)], capture_output=True,
                                      check=True).stdout)


def run_bpftime(host: Path, obj: Path, calls: int, kind: str, program: str = PROGRAM) -> float:
    cmd = [*PREFIX, sys.executable, "-m", "cli.main", "load", str(obj),
           "--attach", f"{program}={kind}:{host}:{FUNCTION}", "--", str(host), "bench", str(calls)]
    proc = subprocess.run(cmd, capture_output=True, cwd=REPO)
    if proc.returncode:
        raise RuntimeError(f"bpftime load failed: {proc.stderr.decode(errors='replace').strip()}")
    return ns_per_call(proc.stdout)


# --- the kernel, through libbpf -----------------------------------------------------

class Libbpf:
    """The few libbpf calls needed to attach one program of an object as a uprobe."""

    def __init__(self) -> None:
        lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
        lib.bpf_object__open_file.restype = ctypes.c_void_p
        lib.bpf_object__open_file.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
        lib.bpf_object__load.argtypes = [ctypes.c_void_p]
        lib.bpf_object__close.argtypes = [ctypes.c_void_p]
        lib.bpf_object__find_program_by_name.restype = ctypes.c_void_p
        lib.bpf_object__find_program_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.bpf_program__attach_uprobe.restype = ctypes.c_void_p
        lib.bpf_program__attach_uprobe.argtypes = [ctypes.c_void_p, ctypes.c_bool, ctypes.c_int,
                                                   ctypes.c_char_p, ctypes.c_size_t]
        lib.bpf_link__destroy.argtypes = [ctypes.c_void_p]
        lib.bpf_object__find_map_by_name.restype = ctypes.c_void_p
        lib.bpf_object__find_map_by_name.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.bpf_map__fd.argtypes = [ctypes.c_void_p]
        lib.bpf_map_lookup_elem.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
        self.lib = lib

    def fail(self, what: str) -> RuntimeError:
        return RuntimeError(f"{what}: {os.strerror(ctypes.get_errno())}")


def function_file_offset(binary: Path, name: str) -> int:
    """File offset of function `name`, what a kernel uprobe is attached at."""
    from elftools.elf.elffile import ELFFile

    with binary.open("rb") as f:
        elf = ELFFile(f)
        sym = elf.get_section_by_name(".symtab").get_symbol_by_name(name)[0]
        vaddr = sym["st_value"]
        for seg in elf.iter_segments("PT_LOAD"):
            if seg["p_vaddr"] <= vaddr < seg["p_vaddr"] + seg["p_memsz"]:
                return vaddr - seg["p_vaddr"] + seg["p_offset"]
    raise RuntimeError(f"{binary}: {name} is in no loadable segment")


def run_kernel(host: Path, obj: Path, calls: int, retprobe: bool) -> float:
    """ns/call of the host while the kernel runs the counter on every call; checks the
    counter saw every call."""
    bpf = Libbpf()
    lib = bpf.lib
    handle = lib.bpf_object__open_file(str(obj).encode(), None)
    if not handle:
        raise bpf.fail(f"libbpf: open {obj}")
    link = None
    try:
        if lib.bpf_object__load(handle):
            raise bpf.fail(f"libbpf: load {obj}")
        prog = lib.bpf_object__find_program_by_name(handle, PROGRAM.encode())
        link = lib.bpf_program__attach_uprobe(prog, retprobe, -1, str(host).encode(),
                                              function_file_offset(host, FUNCTION))
        if not link:
            raise bpf.fail("libbpf: attach uprobe")
        ns = run_bare(host, calls)
        hits = ctypes.c_uint64()
        key = ctypes.c_uint32(0)
        fd = lib.bpf_map__fd(lib.bpf_object__find_map_by_name(handle, b"hits"))
        if lib.bpf_map_lookup_elem(fd, ctypes.byref(key), ctypes.byref(hits)):
            raise bpf.fail("libbpf: read map hits")
        if hits.value < calls:
            raise RuntimeError(f"kernel counter saw {hits.value} of {calls} calls")
        return ns
    finally:
        if link:
            lib.bpf_link__destroy(link)
        lib.bpf_object__close(handle)


def kernel_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    try:
        Libbpf()
    except OSError as err:
        return f"libbpf.so.1: {err}"
    return None


# --- what the agent adds to a host ---------------------------------------------------

@dataclass
class AgentCost:
    rss_bare_kib: int
    rss_agent_kib: int
    session_kib: int
    agent_ms: float      # the agent's own start-up (maps images, applies plans)
    startup_ms: float    # wall-clock start-to-exit of a host that does nothing, minus bare

    @property
    def beyond_maps_kib(self) -> int:
        return self.rss_agent_kib - self.rss_bare_kib - self.session_kib


def _rss_kib(pid: int) -> tuple[int, int]:
    """(VmRSS, Rss of the session mapping) of process `pid`, in KiB."""
    total = session = 0
    in_session = False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        fields = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            in_session = len(fields) >= 6 and "/dev/shm/bpftime-" in fields[5]
        elif fields[0] == "Rss:":
            total += int(fields[1])
            session += int(fields[1]) if in_session else 0
    return total, session


def _held(host: Path, env: dict[str, str]) -> tuple[int, int]:
    """RSS figures of the host holding after `count 1000 1` (it waits for stdin)."""
    proc = subprocess.Popen([str(host), "--hold", "count", "1000", "1"], env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        while proc.stdout.readline().strip() != b"done":
            pass
        return _rss_kib(proc.pid)
    finally:
        proc.stdin.close()
        proc.wait()


def _mean_start_ms(host: Path, env: dict[str, str], runs: int) -> float:
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run([str(host), "count", "0", "1"], env=env, stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - start) * 1e3 / runs


def agent_cost(host: Path, obj: Path, runs: int = 20) -> AgentCost:
    """The host with and without the agent and a session holding the counter."""
    from bpftime.inject.host import preload_env
    from bpftime.inject.prepare import LoadRequest, prepare
    from bpftime.inject.session_build import build_session
    from bpftime.runtime import library_path

    live = build_session(prepare(LoadRequest(obj, host, (), (f"{PROGRAM}=uprobe:{host}:{FUNCTION}",))))
    try:
        bare_env = dict(os.environ)
        agent_env = preload_env(Path(library_path()), live.session.name, bare_env)
        rss_bare, _ = _held(host, bare_env)
        rss_agent, session = _held(host, agent_env)
        agent_ms = live.status().startup_ns / 1e6
        delay = _mean_start_ms(host, agent_env, runs) - _mean_start_ms(host, bare_env, runs)
    finally:
        live.destroy()
    return AgentCost(rss_bare, rss_agent, session, agent_ms, delay)


def best_of(repeat: int, fn, *args) -> float:
    return min(fn(*args) for _ in range(repeat))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--kernel-calls", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-realtime", action="store_true",
                        help="do not run the measured processes under SCHED_FIFO")
    args = parser.parse_args()
    if not args.no_realtime and os.geteuid() == 0 and shutil.which("chrt"):
        PREFIX[:] = ["chrt", "-f", "50"]
    for tool in ("cc", "clang"):
        if shutil.which(tool) is None:
            print(f"uprobe_overhead: {tool} is not installed", file=sys.stderr)
            return 1
    host, obj = build()
    rows: dict[str, float | None] = {"bare": best_of(args.repeat, run_bare, host, args.calls)}
    for kind in ("uprobe", "uretprobe"):
        rows[f"bpftime {kind}"] = best_of(args.repeat, run_bpftime, host, obj, args.calls, kind)
    rows["bpftime uprobe, empty"] = best_of(args.repeat, run_bpftime, host, obj, args.calls,
                                              "uprobe", EMPTY)
    reason = kernel_unavailable()
    for kind, ret in (("uprobe", False), ("uretprobe", True)):
        rows[f"kernel {kind}"] = None if reason else best_of(
            args.repeat, run_kernel, host, obj, args.kernel_calls, ret)
    rows.update(attach_detach_rows(args.calls, args.repeat))
    cost = agent_cost(host, obj)
    return report(rows, cost, reason, args.json)


def report(rows: dict[str, float | None], cost: AgentCost, kernel_reason: str | None,
           as_json: bool) -> int:
    bare = rows["bare"]
    overhead = {k: (v - bare if v is not None else None) for k, v in rows.items()}
    ratios = {}
    for kind in ("uprobe", "uretprobe"):
        k, b = overhead[f"kernel {kind}"], overhead[f"bpftime {kind}"]
        ratios[kind] = k / b if k is not None and b and b > 0 else None
    if as_json:
        print(json.dumps({"ns_per_hit": rows, "overhead_ns": overhead, "kernel_over_bpftime": ratios,
                          "agent_rss_beyond_maps_kib": cost.beyond_maps_kib,
                          "agent_own_startup_ms": cost.agent_ms,
                          "host_startup_delay_ms": cost.startup_ms, "kernel_skipped": kernel_reason}))
        return 0
    print("per-hit cost of demo_target with a counter extension (best of runs; a shared machine is noisy)")
    print(f"{'':24}{'ns/hit':>10}{'overhead ns':>13}")
    for name, ns in rows.items():
        if ns is None:
            print(f"{name:24}{'skipped':>10}  ({kernel_reason})")
        else:
            print(f"{name:24}{ns:10.2f}{overhead[name]:13.2f}")
    for kind, r in ratios.items():
        print(f"kernel/bpftime {kind} overhead: " + (f"{r:.0f}x" if r is not None else "n/a"))
    print(f"agent resident memory beyond maps: {cost.beyond_maps_kib} KiB "
          f"(host {cost.rss_bare_kib} -> {cost.rss_agent_kib} KiB, session {cost.session_kib} KiB)")
    print(f"agent start-up: {cost.agent_ms:.3f} ms in the agent; a host's start-to-exit "
          f"grows by {cost.startup_ms:.2f} ms (loading the agent library included)")
    return 0


def attach_detach_rows(calls: int, repeat: int) -> dict[str, float]:
    """ns/call of demo_target in a host that keeps running (bench/attach_latency.py's):
    before `bpftime attach`, attached with the counter extension, and after detach
    (back to the bare call)."""
    sys.path.insert(0, str(REPO / "bench"))
    from attach_latency import measure

    ns = measure(calls, repeat)["ns_per_call"]
    return {"attach: before": ns["before attach"], "attach: attached": ns["attached, counter"],
            "attach: after detach": ns["after detach"]}


if __name__ == "__main__":
    sys.exit(main())
