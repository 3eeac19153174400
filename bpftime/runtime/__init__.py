"""The native runtime's Python face: sessions (shared memory), maps, event rings,
helper addresses and program images, all through the native library (ctypes).

    Session.create(name=None, size=…) / Session.open(name) -> Session
    session.create_map(name, type, key_size, value_size, max_entries, flags=0) -> Map
    session.create_map_from(map_def, data=None) -> Map;  session.maps() -> {name: Map}
    Map.handle, lookup, update, delete, keys, items, push, pop, peek, value_address
    RingBufferReader(map).poll(), .dropped;  PerfEventReader(map).poll(), .lost
    session.trace_lines();  helper_address(id);  map_image(code, slots_offset, values)
    invoke(entry, ctx, session=None, func_ip=0, regs=0) -> Invocation(r0, override)
    clean_stale();  native_library()
"""
from bpftime.runtime.events import PerfEventReader, RingBufferReader
from bpftime.runtime.helpers import helper_address, helper_available
from bpftime.runtime.image import MappedImage, map_image
from bpftime.runtime.invoke import Invocation, invoke
from bpftime.runtime.maps import Map, MapOpError
from bpftime.runtime.native import library_path, native_library
from bpftime.runtime.session import ObjectKind, Session, SessionObject, clean_stale, session_names

__all__ = ["Invocation", "Map", "MapOpError", "MappedImage", "ObjectKind", "PerfEventReader", "RingBufferReader",
           "Session", "SessionObject", "clean_stale", "helper_address", "helper_available", "invoke",
           "library_path", "map_image", "native_library", "session_names"]
