"""Sessions: one shared-memory region (mode 0600) holding maps, program images, hook
plans and event rings, shared by the CLI, the agents in hosts, and readers such as
`bpftime maps`. Everything inside refers to everything else by offset."""
from __future__ import annotations

import ctypes
import errno
import os
import uuid
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from bpftime.errors import BpftimeError, LoadError
from bpftime.kernel_abi import MapType
from bpftime.runtime.events import drain
from bpftime.runtime.maps import Map
from bpftime.runtime.native import errno_name, native_library

DEFAULT_SIZE = 64 << 20
TRACE_RING_SIZE = 64 << 10
SHM_DIR = Path("/dev/shm")
PREFIX = "bpftime-"
NAME_LEN = 64


class ObjectKind(IntEnum):
    """enum bpftime_object_kind (bpftime/native/session.h)."""

    MAP = 1
    IMAGE = 2
    HOOK_PLAN = 3
    TRACE = 4
    BLOB = 5


@dataclass(frozen=True)
class SessionObject:
    kind: ObjectKind
    name: str
    offset: int
    size: int


def _type_name(map_type: int) -> str:
    try:
        return str(MapType(map_type))
    except ValueError:
        return f"type#{int(map_type)}"


def _shm_name(name: str) -> str:
    return name if name.startswith("/") else "/" + name


class Session:
    """A mapped session. `Session.create()` makes a new one (this object then owns it:
    leaving a `with` block closes and removes it); `Session.open(name)` maps an existing
    one, e.g. from another process."""

    def __init__(self, name: str, base: int, owner: bool):
        self.name = name
        self.base = base
        self.owner = owner
        pid, start, size, ncpus = ctypes.c_int32(), ctypes.c_uint64(), ctypes.c_uint64(), ctypes.c_uint32()
        native_library().bpftime_session_info(base, pid, start, size, ncpus)
        self.creator_pid = pid.value
        self.creator_start = start.value
        self.size = size.value
        self.ncpus = ncpus.value

    @classmethod
    def create(cls, name: str | None = None, size: int = DEFAULT_SIZE,
               trace_size: int = TRACE_RING_SIZE) -> "Session":
        """A new session named `name` (default `/bpftime-PID-RANDOM`) of `size` bytes,
        with a trace_printk ring of `trace_size` bytes (a power of two, ≥ 4096)."""
        name = _shm_name(name or f"{PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}")
        lib = native_library()
        err = ctypes.c_int()
        base = lib.bpftime_session_create(name.encode(), size, ctypes.byref(err))
        if not base:
            raise LoadError(f"session {name}: cannot create it: {errno_name(err.value)}")
        session = cls(name, base, owner=True)
        if not lib.bpftime_session_trace_ring(base, trace_size, ctypes.byref(err)):
            session.close()
            session.unlink()
            raise LoadError(f"session {name}: cannot create its trace ring of {trace_size} bytes: "
                            f"{errno_name(err.value)}")
        return session

    @classmethod
    def open(cls, name: str) -> "Session":
        """Maps the existing session `name` (with or without the leading /)."""
        name = _shm_name(name)
        err = ctypes.c_int()
        base = native_library().bpftime_session_open(name.encode(), ctypes.byref(err))
        if not base:
            reasons = {errno.ENOENT: "no such session", errno.EBADMSG: "not a bpftime session",
                       errno.EPROTO: "made by another version of bpftime"}
            reason = reasons.get(-err.value) or errno_name(err.value)
            raise LoadError(f"session {name}: {reason}")
        return cls(name, base, owner=False)

    def check_open(self) -> None:
        if not self.base:
            raise BpftimeError(f"session {self.name} is closed")

    def close(self) -> None:
        """Unmaps the session from this process (maps of it become unusable)."""
        if self.base:
            native_library().bpftime_session_close(self.base)
            self.base = 0

    def unlink(self) -> None:
        """Removes the session's name; processes that mapped it keep their mapping."""
        unlink_session(self.name)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self.owner:
            self.unlink()

    # objects ---------------------------------------------------------------
    def add_object(self, kind: ObjectKind, name: str, size: int) -> int:
        """Allocates a zeroed object of `size` bytes: its offset from the session base."""
        self.check_open()
        off = native_library().bpftime_session_add_object(self.base, kind, name.encode(), size)
        if off < 0:
            raise LoadError(f"session {self.name}: cannot add {kind.name.lower()} {name!r} "
                            f"({size} bytes): {errno_name(off)}")
        return off

    def find_object(self, kind: ObjectKind, name: str) -> int | None:
        """Offset of the object `kind`/`name`, or None."""
        self.check_open()
        off = native_library().bpftime_session_find_object(self.base, kind, name.encode())
        return None if off < 0 else off

    def remove_object(self, offset: int) -> None:
        self.check_open()
        if native_library().bpftime_session_remove_object(self.base, offset):
            raise LoadError(f"session {self.name}: no object at offset {offset}")

    def objects(self) -> list[SessionObject]:
        """Every object of the session, in table order."""
        self.check_open()
        lib = native_library()
        kind, off, size = ctypes.c_uint32(), ctypes.c_uint64(), ctypes.c_uint64()
        name = ctypes.create_string_buffer(NAME_LEN)
        out, i = [], 0
        while lib.bpftime_session_object(self.base, i, kind, off, size, name) == 0:
            out.append(SessionObject(ObjectKind(kind.value), name.value.decode(), off.value, size.value))
            i += 1
        return out

    def address(self, offset: int) -> int:
        """Address in this process of the byte at `offset` of the session."""
        self.check_open()
        return self.base + offset

    # maps ------------------------------------------------------------------
    def create_map(self, name: str, type: MapType | int, key_size: int, value_size: int,
                   max_entries: int, flags: int = 0, map_extra: int = 0) -> Map:
        """Creates a map with the kernel's semantics for `type`; LoadError naming the map
        and the reason if the runtime cannot create it."""
        self.check_open()
        lib = native_library()
        where = f"map {name} ({_type_name(type)})"
        fields = (key_size, value_size, max_entries, flags)
        if any(not 0 <= v < 1 << 32 for v in fields) or not name or len(name.encode()) >= NAME_LEN:
            raise LoadError(f"{where}: invalid name, size, max_entries or flags")
        reason = lib.bpftime_map_check(int(type), key_size, value_size, max_entries)
        if reason:
            raise LoadError(f"{where}: {reason.decode()}")
        err = ctypes.c_int()
        handle = lib.bpftime_map_create(self.base, name.encode(), int(type), key_size, value_size,
                                        max_entries, flags, map_extra, ctypes.byref(err))
        if not handle:
            reasons = {errno.EEXIST: "a map of this name exists in the session",
                       errno.ENOMEM: f"no room left in the session ({self.size} bytes)",
                       errno.ENOSPC: "the session's object table is full"}
            raise LoadError(f"{where}: {reasons.get(-err.value) or errno_name(err.value)}")
        return Map(self, handle)

    def create_map_from(self, definition: Any, data: bytes | None = None) -> Map:
        """Creates a map from a definition with name, type, key_size, value_size,
        max_entries and optionally flags, map_extra, initial (bpftime.elf MapDef). The
        initial bytes of a global-data map (`data`, else `definition.initial`) become
        the value of key 0."""
        m = self.create_map(definition.name, definition.type, definition.key_size,
                            definition.value_size, definition.max_entries,
                            getattr(definition, "flags", 0), getattr(definition, "map_extra", 0))
        initial = data if data is not None else getattr(definition, "initial", None)
        if initial is not None:
            if len(initial) > m.value_size:
                raise LoadError(f"map {m.name}: initial data of {len(initial)} bytes exceeds "
                                f"its value size {m.value_size}")
            m.update(bytes(4), bytes(initial).ljust(m.value_size, b"\0"))
        return m

    def maps(self) -> dict[str, Map]:
        """The session's maps by name (also when it was created by another process)."""
        return {o.name: Map(self, self.base + o.offset)
                for o in self.objects() if o.kind == ObjectKind.MAP}

    def map(self, name: str) -> Map:
        off = self.find_object(ObjectKind.MAP, name)
        if off is None:
            raise LoadError(f"session {self.name}: no map named {name!r}")
        return Map(self, self.base + off)

    # trace_printk ----------------------------------------------------------
    @property
    def trace_ring(self) -> Map | None:
        off = self.find_object(ObjectKind.TRACE, "trace_printk")
        return None if off is None else Map(self, self.base + off)

    @property
    def trace_dropped(self) -> int:
        """bpf_trace_printk calls whose text found the trace ring full."""
        ring = self.trace_ring
        return native_library().bpftime_ring_dropped(ring.handle, 0) if ring else 0

    def trace_lines(self) -> list[str]:
        """Takes the bpf_trace_printk output written since the last call, one string per
        call (a trailing newline removed)."""
        ring = self.trace_ring
        if ring is None:
            return []
        return [rec.decode("utf-8", "replace").removesuffix("\n") for rec in drain(ring)]


def _start_time(pid: int) -> int | None:
    """Start time of process `pid` in clock ticks, None if it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2:].split()[19])


def session_names() -> list[str]:
    """Names of the bpftime sessions present on this machine."""
    try:
        return sorted("/" + p.name for p in SHM_DIR.glob(PREFIX + "*"))
    except OSError:
        return []


def is_stale(session: Session) -> bool:
    """Whether the process that created the session is gone (or its pid reused)."""
    start = _start_time(session.creator_pid) if session.creator_pid > 0 else None
    return start is None or (session.creator_start != 0 and start != session.creator_start)


def unlink_session(name: str) -> None:
    """Removes a session's name; processes that mapped it keep their mapping."""
    r = native_library().bpftime_session_unlink(name.encode())
    if r and r != -errno.ENOENT:
        raise LoadError(f"session {name}: cannot remove it: {errno_name(r)}")


def session_states() -> list[tuple[str, bool]]:
    """Each bpftime session's name and whether it is stale (its creator is gone).
    Regions that are not bpftime sessions are left out."""
    states = []
    for name in session_names():
        try:
            session = Session.open(name)
        except LoadError:
            continue
        try:
            states.append((name, is_stale(session)))
        finally:
            session.close()
    return states


def clean_stale() -> list[str]:
    """Removes the sessions whose creator died (e.g. a killed CLI): their names."""
    removed = []
    for name, stale in session_states():
        if stale:
            unlink_session(name)
            removed.append(name)
    return removed
