"""ctypes binding of the native hook API (bpftime/native/hook.h) for in-process use:
tests, and Python code that applies plans in its own process. The agent calls the
same C functions directly."""
from __future__ import annotations

import ctypes
from functools import cache

from bpftime.errors import BpftimeError
from bpftime.hook.plan import HookPlan
from bpftime.runtime.native import library_path


class HookError(BpftimeError):
    """A plan could not be applied or removed: names the entry and the reason."""


@cache
def library() -> ctypes.CDLL:
    """The native library built from bpftime/native (bpftime/_native*.so)."""
    lib = ctypes.CDLL(library_path())
    lib.bpftime_hooks_new.restype = ctypes.c_void_p
    lib.bpftime_hooks_free.argtypes = [ctypes.c_void_p]
    lib.bpftime_hooks_set_session.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.bpftime_hook_install.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                         ctypes.c_uint64, ctypes.c_char_p, ctypes.c_size_t]
    lib.bpftime_hook_add_program.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
    lib.bpftime_hook_remove.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
    lib.bpftime_hook_get.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.bpftime_hook_get.restype = ctypes.c_void_p
    lib.bpftime_module_bias.argtypes = [ctypes.c_char_p]
    lib.bpftime_module_bias.restype = ctypes.c_int64
    return lib


class HookDescriptor(ctypes.Structure):
    """struct bpftime_hook (counters and program lists of one entry)."""

    _fields_ = [("address", ctypes.c_uint64), ("ret_tramp", ctypes.c_uint64), ("session", ctypes.c_void_p),
                ("n_entry", ctypes.c_uint32), ("n_return", ctypes.c_uint32),
                ("entry_progs", ctypes.c_void_p * 16), ("return_progs", ctypes.c_void_p * 16),
                ("missed", ctypes.c_uint64)]


def module_bias(path: str) -> int | None:
    """Load bias of a module mapped in this process (None if it is not)."""
    bias = library().bpftime_module_bias(path.encode())
    return None if bias < 0 else bias


class HookSet:
    """One session's hooks in this process; `close()` removes what is still installed."""

    def __init__(self) -> None:
        self._handle: int = library().bpftime_hooks_new()
        if not self._handle:
            raise HookError("out of memory for a hook table")

    def set_session(self, session: int | None) -> None:
        """The session (base address of its mapping) whose extensions these hooks run."""
        library().bpftime_hooks_set_session(self._handle, session)

    def install(self, plan: HookPlan, address: int) -> int:
        """Patch the entry at `address` by `plan`; returns the hook id."""
        err = ctypes.create_string_buffer(512)
        data = plan.to_bytes()
        hook_id = library().bpftime_hook_install(self._handle, data, len(data), address, err, len(err))
        if hook_id < 0:
            raise HookError(err.value.decode(errors="replace"))
        return hook_id

    def add_program(self, hook_id: int, function: int, at_return: bool = False) -> None:
        """Attach an extension (address of `uint64_t prog(void *ctx)`) to a hook."""
        if library().bpftime_hook_add_program(self._handle, hook_id, function, int(at_return)):
            raise HookError(f"hook {hook_id}: cannot add a program (bad id or 16 already)")

    def descriptor(self, hook_id: int) -> HookDescriptor:
        address = library().bpftime_hook_get(self._handle, hook_id)
        if not address:
            raise HookError(f"hook {hook_id}: not installed")
        return HookDescriptor.from_address(address)

    def remove(self, hook_id: int) -> None:
        """Restore the entry's original bytes."""
        err = ctypes.create_string_buffer(512)
        if library().bpftime_hook_remove(self._handle, hook_id, err, len(err)):
            raise HookError(err.value.decode(errors="replace"))

    def close(self) -> None:
        if self._handle:
            library().bpftime_hooks_free(self._handle)
            self._handle = 0
