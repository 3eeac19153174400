#!/usr/bin/env python3
"""Builds the examples: the demo host (examples/host/demo.c) in any of its variants
and every example's BPF object, into examples/build/. Rebuilds only what is older
than its source. Used by the tests and the benchmark; from a shell:

    python examples/build.py            # demo host (-O2, PIE) and every object
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent
BUILD = EXAMPLES / "build"
HOST_SOURCE = EXAMPLES / "host" / "demo.c"
# example directory -> its BPF C source
OBJECTS = {"counter": "counter.bpf.c", "malloc_free": "malloc_free.bpf.c",
           "latency": "latency.bpf.c", "override": "override.bpf.c", "ringbuf": "events.bpf.c"}
BPF_FLAGS = ("-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86", "-I/usr/include/x86_64-linux-gnu")


class BuildError(RuntimeError):
    """A compiler is missing or rejected a source."""


def _compile(cmd: list[str], source: Path, out: Path) -> Path:
    """Run `cmd` writing to a temporary name next to `out`, then rename: concurrent
    builds never see half a file."""
    if out.exists() and out.stat().st_mtime >= source.stat().st_mtime:
        return out
    if shutil.which(cmd[0]) is None:
        raise BuildError(f"{cmd[0]} is not installed")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.name + ".", dir=out.parent)
    os.close(fd)
    proc = subprocess.run([*cmd, "-o", tmp], capture_output=True, text=True)
    if proc.returncode:
        os.unlink(tmp)
        raise BuildError(f"{cmd[0]} failed on {source}:\n{proc.stderr}")
    os.chmod(tmp, 0o755)
    os.replace(tmp, out)
    return out


def build_host(opt: str = "O2", pie: bool = True, cet: bool = False, out_dir: Path = BUILD) -> Path:
    """The demo host built with -O0/-O2, PIE or not, and with `cet` every function
    starting with endbr64: examples/build/demo-pie-O2, demo-nopie-O0-cet, ... The
    binary's name starts with `demo`, so sections `uprobe/demo:FUNC` find it."""
    flags = ["-fPIE", "-pie"] if pie else ["-fno-pie", "-no-pie"]
    flags += ["-fcf-protection=full"] if cet else ["-fcf-protection=none"]
    out = out_dir / f"demo-{'pie' if pie else 'nopie'}-{opt}{'-cet' if cet else ''}"
    return _compile(["cc", f"-{opt}", "-g", "-pthread", *flags, str(HOST_SOURCE)], HOST_SOURCE, out)


def build_object(example: str, out_dir: Path = BUILD, defines: tuple[str, ...] = ()) -> Path:
    """The BPF object of `example` (a key of OBJECTS), e.g. examples/build/counter.bpf.o."""
    source = EXAMPLES / example / OBJECTS[example]
    suffix = "".join(f"-{d.replace('=', '')}" for d in defines)
    out = out_dir / (OBJECTS[example].removesuffix(".bpf.c") + suffix + ".bpf.o")
    return _compile(["clang", *BPF_FLAGS, *(f"-D{d}" for d in defines), "-c", str(source)],
                    source, out)


def main() -> int:
    try:
        print(build_host())
        for example in OBJECTS:
            print(build_object(example))
    except BuildError as err:
        print(f"build: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
