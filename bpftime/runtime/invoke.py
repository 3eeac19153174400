"""Running a mapped program in this thread with the invocation state helpers read
(session for trace_printk, func_ip, hit registers, override_return)."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass

from bpftime.runtime.native import native_library
from bpftime.runtime.session import Session


@dataclass(frozen=True)
class Invocation:
    r0: int
    override: int | None  # the value passed to bpf_override_return, if it was called


def invoke(entry: int, ctx: int, session: Session | None = None, func_ip: int = 0,
           regs: int = 0) -> Invocation:
    """Calls `uint64_t entry(void *ctx)` with this thread's invocation record set:
    trace_printk output goes to `session`'s trace ring (stderr without one),
    bpf_get_func_ip returns `func_ip`, stack helpers walk from `regs` (a struct pt_regs)."""
    flag, value = ctypes.c_int32(), ctypes.c_uint64()
    base = session.base if session is not None else None
    if session is not None:
        session.check_open()
    r0 = native_library().bpftime_invoke(entry, ctx, base, func_ip, regs or None,
                                         ctypes.byref(flag), ctypes.byref(value))
    return Invocation(r0, value.value if flag.value else None)
