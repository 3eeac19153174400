#!/usr/bin/env python3
"""`bpftime attach` on a running server-like host (a thread calling demo_target
every ~50 us, as requests would): how long from the command's start until the
extension runs (its first hit), split into the command's own start-up and
preparation (verify, JIT, plan) and the injection itself; then the per-call time of
demo_target measured inside the host before attach, while attached (an empty
extension: the hook's own cost; the counter extension) and after detach (back to
the bare call). Medians of --repeat runs; the machine is shared, so the numbers are
noisy: compare them with each other, not across runs.

    python bench/attach_latency.py [--calls N] [--repeat R] [--json]
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples"))
FUNCTION = "demo_target"
EMPTY = "nothing"          # examples/counter: the empty program (the hook's own cost)
COUNTER = "count_target"   # examples/counter: counts hits in an array map

HOST = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

__attribute__((noinline, used)) long demo_target(long x)
{
    __asm__ volatile("" : "+r"(x));
    return x * 2 + 1;
}

static void *serve(void *arg)
{
    (void)arg;
    for (long i = 0;; i++) {
        demo_target(i);
        struct timespec ts = {0, 50000};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, serve, NULL) != 0)
        return 1;
    printf("ready\n");
    fflush(stdout);
    char line[64];
    while (fgets(line, sizeof line, stdin)) {   /* "N": time N calls */
        long n = atol(line), sum = 0;
        double a = now_ns();
        for (long i = 0; i < n; i++)
            sum += demo_target(i);
        double b = now_ns();
        printf("ns_per_call %.3f %ld\n", (b - a) / n, sum);
        fflush(stdout);
    }
    return 0;
}
"""


@dataclass
class Host:
    proc: subprocess.Popen

    @classmethod
    def start(cls, exe: Path) -> "Host":
        proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the bench host did not start")
        return cls(proc)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ns_per_call(self, calls: int) -> float:
        self.proc.stdin.write(f"{calls}\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline().split()[1])

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait()


def build(out_dir: Path) -> tuple[Path, Path]:
    import build as examples_build

    src = out_dir / "attach_host.c"
    src.write_text(HOST)
    exe = out_dir / "attach_host"
    subprocess.run(["cc", "-O2", "-pthread", "-fPIE", "-pie", str(src), "-o", str(exe)], check=True)
    return exe, examples_build.build_object("counter")


def first_hit_session(pid: int, timeout: float = 30.0):
    """Wait until an attached session of `pid` has hits; its name."""
    from bpftime.inject.attach_list import attached_sessions

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = attached_sessions(pid)
        if rows and all(e.hits for e in rows[0].extensions):
            return rows[0].name
        time.sleep(0.001)
    raise RuntimeError(f"no hit in process {pid} within {timeout} s")


def cli_latency_ms(host: Host, exe: Path, obj: Path) -> float:
    """From `bpftime attach` starting to the first hit observed (then SIGINT)."""
    started = time.monotonic()
    cmd = subprocess.Popen([sys.executable, "-m", "cli.main", "attach", str(host.pid), str(obj),
                            "--prog", EMPTY, "--attach", f"{EMPTY}=uprobe:{exe}:{FUNCTION}"],
                           cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        first_hit_session(host.pid)
        latency = (time.monotonic() - started) * 1e3
        cmd.send_signal(2)
        _, err = cmd.communicate(timeout=30)
        if cmd.returncode:
            raise RuntimeError(f"bpftime attach failed: {err.strip()}")
        return latency
    finally:
        if cmd.poll() is None:
            cmd.kill()


@dataclass
class Phases:
    prepare_ms: float      # verify + JIT + plan, in this process
    inject_ms: float       # session built, agent injected, hooks reported installed
    first_hit_ms: float    # from installed to the first hit counted
    detach_ms: float       # detach injection until every byte is restored


def api_phases(host: Host, exe: Path, obj: Path, program: str) -> tuple[Phases, object]:
    from bpftime.inject.attach import attach_prepared, attach_request
    from bpftime.inject.prepare import prepare

    t0 = time.monotonic()
    proc, req = attach_request(host.pid, obj, (program,), (f"{program}=uprobe:{exe}:{FUNCTION}",))
    prepared = prepare(req, host.pid)
    t1 = time.monotonic()
    att = attach_prepared(proc, prepared)
    t2 = time.monotonic()
    while att.hits()[0] == 0:
        time.sleep(0.0002)
    t3 = time.monotonic()
    return Phases((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, 0.0), att


def measure(calls: int, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        exe, obj = build(Path(tmp))
        host = Host.start(exe)
        try:
            cli = [cli_latency_ms(host, exe, obj) for _ in range(repeat)]
            per_call: dict[str, list[float]] = {"before attach": [], "attached, empty": [],
                                                "attached, counter": [], "after detach": []}
            phases: list[Phases] = []
            for _ in range(repeat):
                per_call["before attach"].append(host.ns_per_call(calls))
                for program, row in ((EMPTY, "attached, empty"), (COUNTER, "attached, counter")):
                    ph, att = api_phases(host, exe, obj, program)
                    try:
                        per_call[row].append(host.ns_per_call(calls))
                        t = time.monotonic()
                        att.detach()
                        ph.detach_ms = (time.monotonic() - t) * 1e3
                    finally:
                        att.close()
                    phases.append(ph)
                per_call["after detach"].append(host.ns_per_call(calls))
        finally:
            host.stop()
    med = statistics.median
    return {"cli_attach_to_first_hit_ms": med(cli),
            "api_ms": {f: med(getattr(p, f) for p in phases)
                       for f in ("prepare_ms", "inject_ms", "first_hit_ms", "detach_ms")},
            "ns_per_call": {k: med(v) for k, v in per_call.items()}}


def report(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, indent=1))
        return
    print("bpftime attach on a running host (medians; a shared, noisy machine)")
    print(f"  command start -> first hit:          {result['cli_attach_to_first_hit_ms']:8.1f} ms "
          f"(interpreter, imports, Frida start-up included)")
    api = result["api_ms"]
    print("  from a warm process (Python API):")
    print(f"    verify + JIT + plan:                {api['prepare_ms']:8.1f} ms")
    print(f"    session + injection + install:      {api['inject_ms']:8.1f} ms")
    print(f"    installed -> first hit:             {api['first_hit_ms']:8.2f} ms "
          f"(the host calls every ~50 us)")
    print(f"  detach (every byte restored):         {api['detach_ms']:8.1f} ms")
    ns = result["ns_per_call"]
    bare = ns["before attach"]
    print(f"per call of {FUNCTION}:")
    for name, value in ns.items():
        print(f"  {name:<22}{value:8.2f} ns  ({value - bare:+.2f} ns over bare)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    for tool in ("cc", "clang"):
        if shutil.which(tool) is None:
            print(f"attach_latency: {tool} is not installed", file=sys.stderr)
            return 1
    report(measure(args.calls, args.repeat), args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
