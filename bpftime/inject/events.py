"""How `bpftime load` shows what extensions send: ring buffer and perf event records
become JSON lines, decoded through BTF when their struct type is known."""
from __future__ import annotations

import json
from dataclasses import dataclass

from bpftime.btf import Btf, Kind, decode_value
from bpftime.errors import LoadError


@dataclass(frozen=True)
class EventType:
    """The struct a map's records hold: a type of one object's BTF."""

    btf: Btf
    type_id: int
    size: int


def find_event_type(name: str, btfs: list[tuple[str, Btf | None]]) -> EventType:
    """The struct `name` in the first object's BTF that has it (`btfs` pairs an
    object's path with its BTF); LoadError naming the objects searched otherwise."""
    for _, btf in btfs:
        if btf is None:
            continue
        t = btf.find(name, Kind.STRUCT) or btf.find(name, Kind.UNION)
        if t is not None:
            return EventType(btf, t.id, btf.size(t.id))
    searched = ", ".join(path for path, _ in btfs) or "no object"
    raise LoadError(f"--event-type {name}: no struct {name} in the BTF of {searched}")


def format_record(map_name: str, data: bytes, event_type: EventType | None) -> str:
    """One JSON line: {"map": M, "event": DECODED} or {"map": M, "hex": "…"}.

    Perf event records are padded to 8 bytes, so a record at least as long as the
    struct is decoded from its first `size` bytes."""
    if event_type is not None and len(data) >= event_type.size:
        value = decode_value(event_type.btf, event_type.type_id, data[:event_type.size])
        if not isinstance(value, str):
            return json.dumps({"map": map_name, "event": value})
    return json.dumps({"map": map_name, "hex": data.hex()})
