"""Loading a program into the kernel's verifier (bpf syscall through ctypes), for the
differential tests: maps are created as the kernel's own, map references rewritten
to their fds, and the verdict and the kernel's log returned (`kernel_verdict`); or the
loaded program kept open (`kernel_program`) to run it with BPF_PROG_TEST_RUN (`prog_test_run`)."""
from __future__ import annotations

import ctypes
import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from bpftime.isa import Insn, Pseudo, encode
from bpftime.policy import ContextKind

SYS_BPF = 321                      # x86-64
BPF_MAP_CREATE, BPF_PROG_LOAD, BPF_PROG_TEST_RUN = 0, 5, 10
PROG_TYPES = {ContextKind.PT_REGS: 2, ContextKind.SYSCALL_ENTER: 5,   # kprobe, tracepoint
              ContextKind.SYSCALL_EXIT: 5, ContextKind.XDP: 6}
LOG_SIZE = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: bytes | ctypes.Array) -> int:
    buf = ctypes.create_string_buffer(attr, 256) if isinstance(attr, bytes) else attr
    fd = _libc.syscall(SYS_BPF, cmd, buf, 256)
    if fd < 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
    return fd


def create_map(m) -> int:
    return _bpf(BPF_MAP_CREATE, struct.pack("<IIIII", int(m.type), m.key_size, m.value_size,
                                            m.max_entries, m.flags if hasattr(m, "flags") else 0))


def kernel_verdict(insns: list[Insn], maps: list, context: ContextKind) -> tuple[bool, str]:
    """(accepted, the last line of the kernel's verifier log) for `insns`, loaded as
    the program type closest to `context` (GPL, so that every helper is allowed)."""
    with kernel_program(insns, maps, context) as (fd, message):
        return fd is not None, message


@contextmanager
def kernel_program(insns: list[Insn], maps: list,
                   context: ContextKind) -> Iterator[tuple[int | None, str]]:
    """Load `insns` as in `kernel_verdict`; yields (the program's fd, "") while it is
    loaded, or (None, the last line of the kernel's verifier log) if it was refused."""
    fds: list[int] = []
    try:
        fds = [create_map(m) for m in maps]
        fixed = []
        for insn in insns:
            if insn.is_lddw and insn.src == Pseudo.MAP_IDX:
                insn = replace(insn, src=Pseudo.MAP_FD, imm=fds[insn.imm])
            elif insn.is_lddw and insn.src == Pseudo.MAP_IDX_VALUE:
                insn = replace(insn, src=Pseudo.MAP_VALUE, imm=fds[insn.imm])
            fixed.append(insn)
        code = ctypes.create_string_buffer(encode(fixed))
        license_ = ctypes.create_string_buffer(b"GPL")
        log = ctypes.create_string_buffer(LOG_SIZE)
        attr = struct.pack("<IIQQIIQII16s", PROG_TYPES[context], len(code.raw) // 8,
                           ctypes.addressof(code), ctypes.addressof(license_), 1, LOG_SIZE,
                           ctypes.addressof(log), 0, 0, b"difftest")
        try:
            fd = _bpf(BPF_PROG_LOAD, attr)
        except OSError as err:
            lines = [line for line in log.value.decode(errors="replace").splitlines() if line.strip()]
            tail = [line for line in lines if not line.startswith(("processed ", "verification time"))]
            yield None, (tail[-1] if tail else err.strerror)
            return
        fds.append(fd)
        yield fd, ""
    finally:
        for fd in fds:
            os.close(fd)


def prog_test_run(prog_fd: int, data: bytes) -> int:
    """r0 of one BPF_PROG_TEST_RUN of the loaded program on the packet `data`, as the
    kernel reports it: truncated to 32 bits (the attribute's retval is a u32)."""
    data_in = ctypes.create_string_buffer(data, len(data))
    data_out = ctypes.create_string_buffer(len(data) + 512)
    attr = ctypes.create_string_buffer(
        struct.pack("<IIIIQQII", prog_fd, 0, len(data), len(data_out), ctypes.addressof(data_in),
                    ctypes.addressof(data_out), 1, 0), 256)
    _bpf(BPF_PROG_TEST_RUN, attr)
    return struct.unpack_from("<I", attr.raw, 4)[0]
