"""Readers of a session's event rings: ring buffer maps, perf_event_array maps and the
trace_printk ring. One reader per ring at a time (the rings are single-consumer)."""
from __future__ import annotations

import ctypes
import errno

from bpftime.errors import BpftimeError
from bpftime.kernel_abi import MapType
from bpftime.runtime.maps import Map, MapOpError
from bpftime.runtime.native import native_library


def drain(map_: Map, ring: int = 0, limit: int | None = None) -> list[bytes]:
    """Takes the records ready in one ring of `map_`, oldest first."""
    map_.session.check_open()
    lib = native_library()
    buf = ctypes.create_string_buffer(4096)
    length = ctypes.c_uint32()
    out: list[bytes] = []
    while limit is None or len(out) < limit:
        r = lib.bpftime_ring_read(map_.handle, ring, buf, len(buf), ctypes.byref(length))
        if r == -errno.ENOSPC:
            buf = ctypes.create_string_buffer(length.value)
            continue
        if r < 0:
            raise MapOpError(map_.name, "read", r)
        if r == 0:
            break
        out.append(buf.raw[:length.value])
    return out


class RingBufferReader:
    """Consumer of a ringbuf map: `poll()` returns the records submitted since the last
    call; `dropped` counts records that found the ring full."""

    def __init__(self, map_: Map):
        if map_.type != MapType.RINGBUF:
            raise BpftimeError(f"map {map_.name} is a {map_.type} map, not a ringbuf")
        self.map = map_

    def poll(self, limit: int | None = None) -> list[bytes]:
        return drain(self.map, 0, limit)

    @property
    def dropped(self) -> int:
        return native_library().bpftime_ring_dropped(self.map.handle, 0)


class PerfEventReader:
    """Consumer of a perf_event_array map (one ring per CPU slot): `poll()` returns
    (cpu, data) records; `lost` counts records that found their ring full."""

    def __init__(self, map_: Map):
        if map_.type != MapType.PERF_EVENT_ARRAY:
            raise BpftimeError(f"map {map_.name} is a {map_.type} map, not a perf_event_array")
        self.map = map_

    def poll(self) -> list[tuple[int, bytes]]:
        return [(cpu, rec) for cpu in range(self.map.max_entries) for rec in drain(self.map, cpu)]

    @property
    def lost(self) -> int:
        lib = native_library()
        return sum(lib.bpftime_ring_dropped(self.map.handle, cpu) for cpu in range(self.map.max_entries))
