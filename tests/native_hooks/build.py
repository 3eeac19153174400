"""Builds the hook tests' C libraries and hosts with gcc (skipping when it is missing)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
TARGETS = (HERE / "targets.c", HERE / "prologues.S")


def gcc(out: Path, sources: tuple[Path, ...], *flags: str, depends: tuple[Path, ...] = ()) -> Path:
    """Compile `sources` into `out` unless it is newer than all of them (and `depends`)."""
    compiler = shutil.which("gcc")
    if compiler is None:
        pytest.skip("gcc is not installed (make setup installs it)")
    if out.exists() and out.stat().st_mtime > max(s.stat().st_mtime for s in sources + depends):
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([compiler, *flags, "-o", str(out), *map(str, sources), "-lpthread"],
                          capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"gcc failed for {out.name}:\n{proc.stderr}")
    return out


def targets_library(out_dir: Path, opt: str) -> Path:
    """targets.c + prologues.S as a shared library built with `opt` (-O0, -O2) and
    -fcf-protection (endbr64 at every C function)."""
    return gcc(out_dir / f"targets{opt}.so", TARGETS, opt, "-fcf-protection=full", "-fPIC", "-shared")


def agent_host(out_dir: Path, pie: bool) -> Path:
    """agent_host.c: applies a plan to its own `work` through the native library."""
    name = "agent_host_pie" if pie else "agent_host_nopie"
    flags = ("-O2", "-fPIE", "-pie") if pie else ("-O2", "-fno-pie", "-no-pie")
    native = HERE.parents[1] / "bpftime" / "native"
    return gcc(out_dir / name, (HERE / "agent_host.c",), *flags, f"-I{native}", "-ldl",
               depends=(native / "hook.h",))


def host_program(out_dir: Path, pie: bool) -> Path:
    """A host that calls `work` forever: PIE or not."""
    name = "host_pie" if pie else "host_nopie"
    flags = ("-O2", "-fPIE", "-pie") if pie else ("-O2", "-fno-pie", "-no-pie")
    return gcc(out_dir / name, (HERE / "host.c",), *flags)
