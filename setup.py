"""Builds the native runtime (bpftime/native/*.c) with the system compiler.

The result is a plain shared library (no Python C API): Python loads it with ctypes,
and the same file is the agent that `bpftime load` preloads into a host.
"""
from pathlib import Path

from setuptools import Extension, setup

NATIVE = Path("bpftime/native")

setup(
    ext_modules=[
        Extension(
            "bpftime._native",
            sources=sorted(str(p) for p in NATIVE.glob("*.c")),
            include_dirs=[str(NATIVE)],
            depends=sorted(str(p) for p in NATIVE.glob("*.h")),  # a header change rebuilds
            # -mgeneral-regs-only: helpers and map code run in host threads whose vector
            # registers nobody saved; -fno-tree-loop-distribute-patterns keeps byte
            # loops from becoming calls to libc's SSE memcpy/memset.
            extra_compile_args=["-std=gnu11", "-O2", "-fvisibility=hidden", "-Wall", "-Wextra",
                                "-mgeneral-regs-only", "-fno-tree-loop-distribute-patterns",
                                "-fno-omit-frame-pointer"],
            extra_link_args=["-lpthread", "-lrt", "-ldl"],
        )
    ]
)
