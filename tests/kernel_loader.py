"""Loading a program into the kernel's verifier (bpf syscall through ctypes), for the
differential test: maps are created as the kernel's own, map references rewritten
to their fds, and the verdict and the kernel's log returned."""
from __future__ import annotations

import ctypes
import os
import struct
from dataclasses import replace

from bpftime.isa import Insn, Pseudo, encode
from bpftime.policy import ContextKind

SYS_BPF = 321                      # x86-64
BPF_MAP_CREATE, BPF_PROG_LOAD = 0, 5
PROG_TYPES = {ContextKind.PT_REGS: 2, ContextKind.SYSCALL_ENTER: 5,   # kprobe, tracepoint
              ContextKind.SYSCALL_EXIT: 5, ContextKind.XDP: 6}
LOG_SIZE = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _bpf(cmd: int, attr: bytes) -> int:
    buf = ctypes.create_string_buffer(attr, 256)
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
            fds.append(_bpf(BPF_PROG_LOAD, attr))
            return True, ""
        except OSError as err:
            lines = [line for line in log.value.decode(errors="replace").splitlines() if line.strip()]
            tail = [line for line in lines if not line.startswith(("processed ", "verification time"))]
            return False, (tail[-1] if tail else err.strerror)
    finally:
        for fd in fds:
            os.close(fd)
