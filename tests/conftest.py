"""Shared fixtures: the conformance suite, BPF C objects built with clang, and
capability checks that skip (with the reason) where a tool or privilege is missing."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFORMANCE = REPO.parent / "shared" / "conformance"
PROGRAMS = REPO / "tests" / "programs"
BUILD = PROGRAMS / "build"


def clang_or_skip() -> str:
    clang = shutil.which("clang")
    if clang is None:
        pytest.skip("clang is not installed (make setup installs it)")
    return clang


def build_bpf(source: Path, out_dir: Path = BUILD, extra: tuple[str, ...] = ()) -> Path:
    """Compile one BPF C file with clang -O2 -g -target bpf; rebuilt when the source
    or a header in tests/programs/include is newer than the object."""
    clang = clang_or_skip()
    out_dir.mkdir(parents=True, exist_ok=True)
    obj = out_dir / (source.name.removesuffix(".c") + ".o")
    headers = list((PROGRAMS / "include").glob("*.h"))
    newest = max([source.stat().st_mtime] + [h.stat().st_mtime for h in headers])
    if not obj.exists() or obj.stat().st_mtime < newest:
        cmd = [clang, "-O2", "-g", "-target", "bpf", "-D__TARGET_ARCH_x86",
               "-I", str(PROGRAMS / "include"), *extra, "-c", str(source), "-o", str(obj)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"clang failed on {source}:\n{proc.stderr}")
    return obj


@pytest.fixture(scope="session")
def bpf_object():
    """bpf_object("counter") -> Path of tests/programs/build/counter.bpf.o, built on demand."""

    def get(name: str) -> Path:
        return build_bpf(PROGRAMS / f"{name}.bpf.c")

    return get


def kernel_bpf_available() -> str | None:
    """None if this process may load programs into the kernel, else why not."""
    if os.geteuid() != 0:
        return "needs root for the bpf syscall"
    if shutil.which("bpftool") is None:
        return "bpftool is not installed"
    probe = subprocess.run(["bpftool", "prog", "list"], capture_output=True, text=True)
    if probe.returncode:
        return "the kernel refuses bpf feature probes: " + probe.stderr.strip()[:200]
    return None


@pytest.fixture(scope="session")
def kernel_bpf():
    """Skip unless the kernel's eBPF can be used here (root, bpf syscall, bpftool)."""
    reason = kernel_bpf_available()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def host_binary():
    """host_binary("demo_host", pie=True, opt="O2") -> Path of a tests/hosts program built
    with gcc -g (see tests/hosts/README.md); skips when gcc is missing."""
    from hosts.build import HostBuildError, build_host

    def get(name: str, pie: bool = True, opt: str = "O2") -> Path:
        if shutil.which("gcc") is None:
            pytest.skip("gcc is not installed (make setup installs it)")
        try:
            return build_host(name, pie, opt)
        except HostBuildError as err:
            pytest.fail(str(err))

    return get
