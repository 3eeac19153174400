"""The host the attach tests extend while it runs: THREADS threads call `target`
(in the executable), libc's `labs` and, once it has dlopen'ed PLUGIN, `plugin_fn`
in a tight loop, check every result, and stop when their standard input closes.
Built here in every variant the tests need (PIE or not); this module also tests
the host on its own, so a broken host fails here rather than in an attach test."""
from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

SOURCE = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline, used))

NOINLINE int64_t target(int64_t x)
{
    __asm__ volatile("" : "+r"(x));
    return x * 3 + 1;
}

static long (*volatile p_labs)(long) = labs;
static int64_t (*volatile p_plugin)(int64_t);
static volatile int stop;
static long calls[64], wrong[64];

static void *worker(void *arg)
{
    long t = (long)arg;
    for (int64_t i = 0; !__atomic_load_n(&stop, __ATOMIC_RELAXED); i++) {
        if (target(i) != i * 3 + 1)
            wrong[t]++;
        if (p_labs(-i) != i)
            wrong[t]++;
        int64_t (*plugin)(int64_t) = __atomic_load_n(&p_plugin, __ATOMIC_ACQUIRE);
        if (plugin && plugin(i) != i * 5 + 2)
            wrong[t]++;
        calls[t]++;
        if ((i & 255) == 255) { /* a tight loop, but one that leaves the shared CPUs some air */
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 4;
    if (threads < 1 || threads > 64)
        return 2;
    pthread_t tid[64];
    for (long t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, worker, (void *)t) != 0)
            return 1;
    printf("started\n");
    fflush(stdout);
    if (argc > 2) {
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL); /* well after start */
        void *lib = dlopen(argv[2], RTLD_NOW);
        void *fn = lib ? dlsym(lib, "plugin_fn") : NULL;
        if (!fn) {
            fprintf(stderr, "loop_host: %s\n", dlerror());
            return 1;
        }
        __atomic_store_n(&p_plugin, (int64_t (*)(int64_t))fn, __ATOMIC_RELEASE);
    }
    printf("ready\n");
    fflush(stdout);
    char buf[64];
    while (fgets(buf, sizeof buf, stdin))
        ;
    stop = 1;
    long total = 0, bad = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        total += calls[t];
        bad += wrong[t];
    }
    printf("calls=%ld wrong=%ld\n", total, bad);
    return bad != 0;
}
"""

PLUGIN = r"""
#include <stdint.h>
__attribute__((noinline, used)) int64_t plugin_fn(int64_t x)
{
    __asm__ volatile("" : "+r"(x));
    return x * 5 + 2;
}
"""


def build_loop_host(out_dir: Path, pie: bool = True) -> Path:
    """loop_host (PIE or not) in out_dir; skips without gcc."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed (make setup installs it)")
    src = out_dir / "loop_host.c"
    src.write_text(SOURCE)
    exe = out_dir / f"loop_host-{'pie' if pie else 'nopie'}"
    flags = ["-fPIE", "-pie"] if pie else ["-fno-pie", "-no-pie"]
    subprocess.run([gcc, "-O2", "-g", "-pthread", *flags, str(src), "-o", str(exe), "-ldl"],
                   check=True, capture_output=True)
    return exe


def build_plugin(out_dir: Path) -> Path:
    src = out_dir / "plugin.c"
    src.write_text(PLUGIN)
    lib = out_dir / "libplugin.so"
    subprocess.run(["gcc", "-O2", "-g", "-shared", "-fPIC", str(src), "-o", str(lib)],
                   check=True, capture_output=True)
    return lib


@dataclass
class LoopHost:
    """A running loop_host, started without bpftime."""

    proc: subprocess.Popen

    @classmethod
    def start(cls, exe: Path, threads: int = 4, plugin: Path | None = None) -> "LoopHost":
        args = [str(exe), str(threads)] + ([str(plugin)] if plugin else [])
        proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        host = cls(proc)
        for expected in ("started", "ready"):
            line = proc.stdout.readline().strip()
            if line != expected:
                host.kill()
                raise RuntimeError(f"loop_host said {line!r}, expected {expected!r}")
        return host

    @property
    def pid(self) -> int:
        return self.proc.pid

    def finish(self, timeout: float = 20) -> tuple[int, int]:
        """Stop the threads: (calls, wrong results); asserts a clean exit."""
        out, _ = self.proc.communicate("", timeout=timeout)
        assert self.proc.returncode == 0, f"loop_host exited with {self.proc.returncode}: {out!r}"
        fields = dict(kv.split("=") for kv in out.split())
        return int(fields["calls"]), int(fields["wrong"])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="session")
def loop_build(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("loop_host")


def test_loop_host_runs_and_checks_its_results(loop_build):
    host = LoopHost.start(build_loop_host(loop_build), threads=2, plugin=build_plugin(loop_build))
    try:
        time.sleep(0.1)
        calls, wrong = host.finish()
    finally:
        host.kill()
    assert calls > 0 and wrong == 0
