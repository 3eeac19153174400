"""Maps of a session, read and written from Python with the kernel's system-call
semantics (bpf(BPF_MAP_*_ELEM)): per-CPU values are all CPUs' copies, each padded to
8 bytes; an LRU lookup from here does not count as a use."""
from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bpftime.errors import BpftimeError
from bpftime.kernel_abi import MapType
from bpftime.runtime.native import errno_name, native_library

if TYPE_CHECKING:
    from bpftime.runtime.session import Session

PERCPU_TYPES = (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH)


class MapHeader(ctypes.Structure):
    """The fixed prefix of `struct bpftime_map` (bpftime/native/map.h)."""

    _fields_ = [("type", ctypes.c_uint32), ("key_size", ctypes.c_uint32),
                ("value_size", ctypes.c_uint32), ("max_entries", ctypes.c_uint32),
                ("map_flags", ctypes.c_uint32), ("ncpus", ctypes.c_uint32),
                ("value_stride", ctypes.c_uint32), ("lock", ctypes.c_uint32),
                ("size", ctypes.c_uint64), ("map_extra", ctypes.c_uint64),
                ("name", ctypes.c_char * 64)]


class MapOpError(BpftimeError):
    """A map operation the kernel would refuse too: names the map, the operation and
    the errno (`errno` attribute, positive)."""

    def __init__(self, map_name: str, op: str, code: int):
        super().__init__(f"map {map_name}: {op}: {errno_name(code)}")
        self.errno = abs(code)


class Map:
    """One map of a session. `handle` is its address in this process: the value a
    program's r1 holds for map helpers."""

    def __init__(self, session: "Session", handle: int):
        self.session = session
        self.handle = handle
        header = MapHeader.from_address(handle)
        self.name = header.name.decode()
        self.type = MapType(header.type)
        self.key_size = header.key_size
        self.value_size = header.value_size
        self.max_entries = header.max_entries
        self.flags = header.map_flags
        self.map_extra = header.map_extra
        self.ncpus = header.ncpus
        self.value_stride = header.value_stride

    def __repr__(self) -> str:
        return (f"Map({self.name!r}, {self.type}, key_size={self.key_size}, "
                f"value_size={self.value_size}, max_entries={self.max_entries})")

    @property
    def value_bytes(self) -> int:
        """Size of a value as lookup returns it and update takes it."""
        if self.type in PERCPU_TYPES:
            return self.value_stride * self.ncpus
        if self.type == MapType.PROG_ARRAY:
            return 8
        return self.value_size

    def per_cpu(self, value: bytes) -> list[bytes]:
        """Splits a per-CPU map's value into each CPU's copy (value_size bytes each)."""
        s = self.value_stride
        return [value[i * s:i * s + self.value_size] for i in range(self.ncpus)]

    def _live(self) -> None:
        self.session.check_open()

    def _key(self, key: bytes | None) -> ctypes.Array | None:
        if self.key_size == 0:
            return None
        if key is None or len(key) != self.key_size:
            got = "no key" if key is None else f"a {len(key)}-byte key"
            raise BpftimeError(f"map {self.name}: {self.key_size}-byte keys, got {got}")
        return ctypes.create_string_buffer(bytes(key), self.key_size)

    def _value(self, value: bytes, size: int | None = None) -> ctypes.Array:
        size = self.value_bytes if size is None else size
        if self.type == MapType.PROG_ARRAY and len(value) in (4, 8):
            value = bytes(value).ljust(8, b"\0")  # an entry address, 8 bytes in the runtime
        if len(value) != size:
            raise BpftimeError(f"map {self.name}: {size}-byte values, got {len(value)} bytes")
        return ctypes.create_string_buffer(bytes(value), size)

    def lookup(self, key: bytes | None) -> bytes | None:
        """The value of `key`, or None if absent (queue/stack: peek; key None)."""
        self._live()
        out = ctypes.create_string_buffer(max(1, self.value_bytes))
        r = native_library().bpftime_map_lookup(self.handle, self._key(key), out)
        if r == -errno.ENOENT:
            return None
        if r:
            raise MapOpError(self.name, "lookup", r)
        return out.raw[:self.value_bytes]

    def update(self, key: bytes | None, value: bytes, flags: int = 0) -> None:
        """Sets `key` to `value` with BPF_ANY (0), BPF_NOEXIST (1) or BPF_EXIST (2)."""
        self._live()
        r = native_library().bpftime_map_update(self.handle, self._key(key), self._value(value), flags)
        if r:
            raise MapOpError(self.name, "update", r)

    def delete(self, key: bytes) -> None:
        """Removes `key`; MapOpError (ENOENT) if absent, (EINVAL) for arrays."""
        self._live()
        r = native_library().bpftime_map_delete(self.handle, self._key(key))
        if r:
            raise MapOpError(self.name, "delete", r)

    def keys(self) -> Iterator[bytes]:
        """Every key, in the map's own order."""
        self._live()
        lib = native_library()
        cur: ctypes.Array | None = None
        nxt = ctypes.create_string_buffer(max(1, self.key_size))
        while lib.bpftime_map_next_key(self.handle, cur, nxt) == 0:
            yield nxt.raw[:self.key_size]
            cur = ctypes.create_string_buffer(nxt.raw, self.key_size)

    def items(self) -> list[tuple[bytes, bytes]]:
        """(key, value) of every entry present."""
        out = []
        for key in self.keys():
            value = self.lookup(key)
            if value is not None:
                out.append((key, value))
        return out

    def push(self, value: bytes, flags: int = 0) -> None:
        """Queue/stack: adds a value (flags BPF_EXIST: drop the oldest when full).
        Bloom filter: adds a value to the set."""
        self.update(None, value, flags)

    def _pop(self, remove: bool) -> bytes | None:
        self._live()
        out = ctypes.create_string_buffer(self.value_size)
        r = native_library().bpftime_map_pop(self.handle, out, int(remove))
        if r == -errno.ENOENT:
            return None
        if r:
            raise MapOpError(self.name, "pop" if remove else "peek", r)
        return out.raw

    def pop(self) -> bytes | None:
        """Queue: the oldest value; stack: the newest; removed. None if empty."""
        return self._pop(True)

    def peek(self) -> bytes | None:
        """As pop, without removing."""
        return self._pop(False)

    def contains(self, value: bytes) -> bool:
        """Bloom filter: False if `value` was certainly never added."""
        self._live()
        r = native_library().bpftime_map_lookup(self.handle, None, self._value(value, self.value_size))
        if r not in (0, -errno.ENOENT):
            raise MapOpError(self.name, "lookup", r)
        return r == 0

    def value_address(self, key: bytes) -> int | None:
        """Address of `key`'s value in this process (CPU 0's copy for per-CPU maps)."""
        self._live()
        return native_library().bpftime_map_value_address(self.handle, self._key(key)) or None
