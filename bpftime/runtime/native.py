"""The native runtime library (bpftime/_native*.so) loaded with ctypes, its functions typed.

The same file is the agent preloaded into hosts; here it serves Python for sessions,
maps, event rings and program images, so the map algorithms exist once.
"""
from __future__ import annotations

import ctypes
import errno
import os
from functools import lru_cache
from pathlib import Path

import bpftime

from bpftime.errors import BpftimeError

c_int_p = ctypes.POINTER(ctypes.c_int)
c_u32_p = ctypes.POINTER(ctypes.c_uint32)
c_u64_p = ctypes.POINTER(ctypes.c_uint64)
c_i32_p = ctypes.POINTER(ctypes.c_int32)
vp = ctypes.c_void_p
u32, u64, i64 = ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64

# name -> (restype, argtypes)
_SIGNATURES: dict[str, tuple[object, list[object]]] = {
    "bpftime_image_map": (vp, [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, c_u64_p, ctypes.c_size_t]),
    "bpftime_image_unmap": (ctypes.c_int, [vp, ctypes.c_size_t]),
    "bpftime_session_create": (vp, [ctypes.c_char_p, u64, c_int_p]),
    "bpftime_session_open": (vp, [ctypes.c_char_p, c_int_p]),
    "bpftime_session_close": (ctypes.c_int, [vp]),
    "bpftime_session_unlink": (ctypes.c_int, [ctypes.c_char_p]),
    "bpftime_session_info": (None, [vp, c_i32_p, c_u64_p, c_u64_p, c_u32_p]),
    "bpftime_session_add_object": (i64, [vp, u32, ctypes.c_char_p, u64]),
    "bpftime_session_find_object": (i64, [vp, u32, ctypes.c_char_p]),
    "bpftime_session_object": (ctypes.c_int, [vp, u32, c_u32_p, c_u64_p, c_u64_p, ctypes.c_char_p]),
    "bpftime_session_remove_object": (ctypes.c_int, [vp, u64]),
    "bpftime_session_trace_ring": (vp, [vp, u32, c_int_p]),
    "bpftime_map_check": (ctypes.c_char_p, [u32, u32, u32, u32]),
    "bpftime_map_create": (vp, [vp, ctypes.c_char_p, u32, u32, u32, u32, u32, u64, c_int_p]),
    "bpftime_map_lookup": (ctypes.c_int, [vp, vp, vp]),
    "bpftime_map_update": (ctypes.c_int, [vp, vp, vp, u64]),
    "bpftime_map_delete": (ctypes.c_int, [vp, vp]),
    "bpftime_map_pop": (ctypes.c_int, [vp, vp, ctypes.c_int]),
    "bpftime_map_next_key": (ctypes.c_int, [vp, vp, vp]),
    "bpftime_map_value_address": (vp, [vp, vp]),
    "bpftime_ring_read": (ctypes.c_int, [vp, u32, vp, u32, c_u32_p]),
    "bpftime_ring_dropped": (u64, [vp, u32]),
    "bpftime_helper_address": (vp, [ctypes.c_int]),
    "bpftime_invoke": (u64, [vp, vp, vp, u64, vp, c_i32_p, c_u64_p]),
}


def library_path() -> str:
    """Path of the native library built next to the imported `bpftime` package (never
    another checkout's, as an editable install's finder may give); BpftimeError if it
    is not built. Python loads it, `load` preloads it, `attach` injects it."""
    found = sorted(Path(bpftime.__file__).parent.glob("_native*.so"))
    if not found:
        raise BpftimeError(f"the native library is not built in {Path(bpftime.__file__).parent}: "
                           f"run pip install -e . (make setup)")
    return str(found[0])


@lru_cache(maxsize=1)
def native_library() -> ctypes.CDLL:
    """The native library as a ctypes CDLL with the runtime's functions typed."""
    lib = ctypes.CDLL(library_path(), use_errno=True)
    for name, (restype, argtypes) in _SIGNATURES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib


def errno_name(code: int) -> str:
    """`ENOENT (No such file or directory)` for 2 or -2."""
    code = abs(code)
    return f"{errno.errorcode.get(code, f'errno {code}')} ({os.strerror(code)})"
