"""Showing the maps of a session: the JSON `bpftime run --dump-maps` writes
(bpftime.jit.mapdump, keys and values decoded through the BTF of the object that
declared each map), or text lines for people."""
from __future__ import annotations

import ctypes
import json
from dataclasses import dataclass
from typing import Any

from bpftime.btf import Btf
from bpftime.kernel_abi import BPF_F_RDONLY_PROG, MapType
from bpftime.elf.model import MapDef
from bpftime.jit.mapdump import NO_ENTRIES, dump_maps
from bpftime.runtime import Map, ObjectKind, Session

MAP_INFO_OBJECT = "maps.json"
ARRAYS = (MapType.ARRAY, MapType.PERCPU_ARRAY)
CONSUMED = (MapType.QUEUE, MapType.STACK)   # reading them takes their values out


@dataclass(frozen=True)
class MapView:
    """A map of the session with the definition and BTF of the object that declared it."""

    map: Map
    definition: MapDef
    btf: Btf | None = None

    def entries(self, consume: bool = False) -> list[dict[str, Any]]:
        """{"key": K, "value": V} of every entry. Queues and stacks are listed only
        when `consume` (their values are popped); while the session is live they
        belong to the extensions."""
        if self.map.type in CONSUMED and not consume:
            return []
        return dump_maps([self.map], [self.definition], self.btf)["maps"][self.definition.name]


def read_only(m: Map) -> bool:
    """Read-only global data (.rodata*: the program's constants), left out wherever maps
    are shown or dumped: it cannot change while the extensions run, and `bpftime
    inspect OBJ` shows it."""
    return bool(m.flags & BPF_F_RDONLY_PROG)


def map_info_blob(entries: dict[str, dict[str, Any]]) -> bytes:
    """The session blob naming, for each map, its object and its name there."""
    return json.dumps(entries).encode()


def _header_definition(m: Map) -> MapDef:
    """What the map's own header tells (no BTF types: shown in hex)."""
    return MapDef(m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags)


def session_views(session: Session, name: str | None = None) -> list[MapView]:
    """The maps of a session (all but read-only data, or only `name`) with their
    definitions, read back from the session's map info and the objects it names."""
    from bpftime.elf.loader import load_object
    from bpftime.errors import BpftimeError

    if name is not None:
        maps = {name: session.map(name)}
    else:
        maps = {n: m for n, m in session.maps().items() if not read_only(m)}
    info = _read_info(session)
    objects: dict[str, Any] = {}
    views = []
    for map_name, m in maps.items():
        meta = info.get(map_name)
        if meta is not None and meta["object"] not in objects:
            try:
                objects[meta["object"]] = load_object(meta["object"])
            except (BpftimeError, OSError):
                objects[meta["object"]] = None   # the object is gone or broken: hex
        obj = objects.get(meta["object"]) if meta else None
        definition = next((d for d in obj.maps if d.name == meta["map"]), None) if obj else None
        if definition is None or (definition.key_size, definition.value_size) != (m.key_size, m.value_size):
            views.append(MapView(m, _header_definition(m)))
        else:
            views.append(MapView(m, definition, obj.btf))
    return views


def _read_info(session: Session) -> dict[str, dict[str, Any]]:
    for obj in session.objects():
        if obj.kind == ObjectKind.BLOB and obj.name == MAP_INFO_OBJECT:
            raw = ctypes.string_at(session.address(obj.offset), obj.size)
            return json.loads(raw.rstrip(b"\0") or b"{}")
    return {}


def to_json(views: list[MapView], consume: bool = False) -> dict[str, Any]:
    return {"maps": {v.map.name: v.entries(consume) for v in views}}


def to_text(views: list[MapView]) -> str:
    """`NAME (TYPE): K => V` lines (`(empty)` for a map with no entry); array entries
    that are all zero are left out."""
    lines = []
    for v in views:
        entries = v.entries()
        shown = [e for e in entries if not (v.map.type in ARRAYS and _is_zero(e["value"]))]
        hidden = len(entries) - len(shown)
        note = f", {hidden} zero entries not shown" if hidden else ""
        if v.map.type in NO_ENTRIES:
            note = ", a stream of records: not listed"
        elif v.map.type in CONSUMED:
            note = ", reading takes its values: not listed"
        lines.append(f"{v.map.name} ({v.map.type}{note}):")
        lines += [f"  {json.dumps(e['key'])} => {json.dumps(e['value'])}" for e in shown]
        if not entries and v.map.type not in NO_ENTRIES + CONSUMED:
            lines.append("  (empty)")
    return "\n".join(lines)


def _is_zero(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_is_zero(v) for v in value.values())
    if isinstance(value, list):
        return all(_is_zero(v) for v in value)
    if isinstance(value, str):
        return set(value) <= {"0"}
    return not value
