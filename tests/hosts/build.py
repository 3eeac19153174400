"""Builds the demo hosts of tests/hosts with gcc -g, in PIE / non-PIE and -O0 / -O2 variants.

    build_host("demo_host", pie=True, opt="O2") -> tests/hosts/build/demo_host-pie-O2

A binary is rebuilt only when its source is newer; it is written to a temporary name
and renamed, so concurrent test runs never see half a file. From a shell:
    python tests/hosts/build.py [NAME ...]     builds every variant of the named hosts
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HOSTS = Path(__file__).resolve().parent
BUILD = HOSTS / "build"
NAMES = ("demo_host", "nginx_like", "redis_like")
OPTS = ("O0", "O2")


class HostBuildError(RuntimeError):
    """gcc is missing or rejected a host source."""


def variant_name(name: str, pie: bool = True, opt: str = "O2") -> str:
    return f"{name}-{'pie' if pie else 'nopie'}-{opt}"


def build_host(name: str, pie: bool = True, opt: str = "O2", out_dir: Path = BUILD) -> Path:
    """Compile tests/hosts/NAME.c (with -g, -pthread) and return the binary's path."""
    if opt not in OPTS:
        raise ValueError(f"opt must be one of {OPTS}, got {opt!r}")
    source = HOSTS / f"{name}.c"
    if not source.exists():
        raise HostBuildError(f"no host source {source}")
    gcc = shutil.which("gcc")
    if gcc is None:
        raise HostBuildError("gcc is not installed")
    out_dir.mkdir(parents=True, exist_ok=True)
    binary = out_dir / variant_name(name, pie, opt)
    if binary.exists() and binary.stat().st_mtime >= source.stat().st_mtime:
        return binary
    fd, tmp = tempfile.mkstemp(prefix=binary.name + ".", dir=out_dir)
    os.close(fd)
    cmd = [gcc, "-g", f"-{opt}", "-Wall", "-Wextra", "-pthread",
           *(["-fPIE", "-pie"] if pie else ["-fno-pie", "-no-pie"]),
           str(source), "-o", tmp]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        os.unlink(tmp)
        raise HostBuildError(f"gcc failed on {source}:\n{proc.stderr}")
    os.chmod(tmp, 0o755)
    os.replace(tmp, binary)
    return binary


def main(argv: list[str]) -> int:
    for name in argv or NAMES:
        for pie in (True, False):
            for opt in OPTS:
                print(build_host(name, pie, opt))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
