"""Showing the maps of a session: keys and values decoded through the BTF of the
object that declared them, as JSON (`{"maps": {NAME: [{"key": K, "value": V}]}}`,
the form `bpftime run --dump-maps` writes) or as text."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from bpftime.btf import Btf, decode_value
from bpftime.kernel_abi import MapType
from bpftime.runtime import Map, ObjectKind, Session

MAP_INFO_OBJECT = "maps.json"
# Maps whose contents are a stream or a set, not key/value entries.
NO_ENTRIES = (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY, MapType.QUEUE, MapType.STACK,
              MapType.BLOOM_FILTER, MapType.USER_RINGBUF)
PERCPU = (MapType.PERCPU_ARRAY, MapType.PERCPU_HASH)
ARRAYS = (MapType.ARRAY, MapType.PERCPU_ARRAY)


@dataclass(frozen=True)
class MapView:
    """A map with the BTF types of its keys and values (0: unknown, shown in hex)."""

    map: Map
    btf: Btf | None = None
    key_type: int = 0
    value_type: int = 0

    def entries(self) -> list[dict[str, Any]]:
        """Every entry as {"key": K, "value": V}; per-CPU values are lists per CPU."""
        if self.map.type in NO_ENTRIES:
            return []
        out = []
        for key, value in self.map.items():
            if self.map.type in PERCPU:
                decoded: Any = [decode_value(self.btf, self.value_type, v) for v in self.map.per_cpu(value)]
            else:
                decoded = decode_value(self.btf, self.value_type, value)
            out.append({"key": self._key(key), "value": decoded})
        return out

    def _key(self, key: bytes) -> Any:
        if not self.key_type and self.map.type in ARRAYS and len(key) == 4:
            return int.from_bytes(key, "little")  # an array's key is its u32 index
        return decode_value(self.btf, self.key_type, key)


def map_info_blob(entries: dict[str, dict[str, Any]]) -> bytes:
    """The session blob naming, for each map, its object, name there and BTF type ids."""
    return json.dumps(entries).encode()


def session_views(session: Session, name: str | None = None) -> list[MapView]:
    """The maps of a session (or only `name`) with their types, read back from the
    session's map info and the objects' BTF."""
    from bpftime.elf.loader import load_object
    from bpftime.errors import BpftimeError

    maps = session.maps()
    if name is not None:
        maps = {name: session.map(name)}
    info = _read_info(session)
    objects: dict[str, Btf | None] = {}
    views = []
    for map_name, m in maps.items():
        meta = info.get(map_name)
        if meta is None:
            views.append(MapView(m))
            continue
        path = meta["object"]
        if path not in objects:
            try:
                objects[path] = load_object(path).btf
            except (BpftimeError, OSError):
                objects[path] = None   # the object is gone or changed: show hex
        views.append(MapView(m, objects[path], meta["key_type"], meta["value_type"]))
    return views


def _read_info(session: Session) -> dict[str, dict[str, Any]]:
    import ctypes

    for obj in session.objects():
        if obj.kind == ObjectKind.BLOB and obj.name == MAP_INFO_OBJECT:
            raw = ctypes.string_at(session.address(obj.offset), obj.size)
            return json.loads(raw.rstrip(b"\0") or b"{}")
    return {}


def to_json(views: list[MapView]) -> dict[str, Any]:
    return {"maps": {v.map.name: v.entries() for v in views}}


def to_text(views: list[MapView]) -> str:
    """`NAME (TYPE): K => V` lines; array entries that are all zero, and read-only
    global data (.rodata: the program's constants), are left out."""
    lines = []
    for v in views:
        if v.map.name.endswith(".rodata"):
            continue
        entries = v.entries()
        shown = [e for e in entries if not (v.map.type in ARRAYS and _is_zero(e["value"]))]
        hidden = len(entries) - len(shown)
        note = f", {hidden} zero entries not shown" if hidden else ""
        if v.map.type in NO_ENTRIES:
            note = ", a stream: not listed"
        lines.append(f"{v.map.name} ({v.map.type}{note}):")
        lines += [f"  {json.dumps(e['key'])} => {json.dumps(e['value'])}" for e in shown]
    return "\n".join(lines)


def _is_zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_zero(v) for v in value)
    if isinstance(value, str):
        return set(value) <= {"0"} or value == ""
    return not value
