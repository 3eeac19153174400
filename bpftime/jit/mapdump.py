"""Every map of a run as JSON-able data, keys and values decoded through BTF:
`{"maps": {NAME: [{"key": K, "value": V}, …]}}` (hex strings without BTF).
Per-CPU values are lists (one per CPU); queue/stack entries have only a value
(taken in pop order, so the maps are emptied); ring buffers list no entries; the
key of a global-data map (.data/.bss/.rodata) is its index, 0."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bpftime.btf.value import decode_value
from bpftime.kernel_abi import MapType
from bpftime.runtime.maps import PERCPU_TYPES

if TYPE_CHECKING:
    from bpftime.btf import Btf
    from bpftime.elf.model import MapDef
    from bpftime.runtime import Map

NO_ENTRIES = (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY, MapType.BLOOM_FILTER, MapType.USER_RINGBUF)


def dump_maps(maps: "list[Map]", defs: "list[MapDef]", btf: "Btf | None") -> dict[str, Any]:
    out: dict[str, list[dict[str, Any]]] = {}
    for m, d in zip(maps, defs):
        out[d.name] = _entries(m, d, btf)
    return {"maps": out}


def _entries(m: "Map", d: "MapDef", btf: "Btf | None") -> list[dict[str, Any]]:
    if m.type in NO_ENTRIES:
        return []
    if m.type in (MapType.QUEUE, MapType.STACK):
        values = []
        while (v := m.pop()) is not None:
            values.append({"value": decode_value(btf, d.value_type_id, v)})
        return values
    entries = []
    for key, value in m.items():
        if m.type in PERCPU_TYPES:
            decoded: Any = [decode_value(btf, d.value_type_id, c) for c in m.per_cpu(value)]
        elif m.type == MapType.PROG_ARRAY:
            decoded = int.from_bytes(value, "little")
        else:
            decoded = decode_value(btf, d.value_type_id, value)
        if d.is_global_data:  # no key type in BTF: the key is the index 0
            decoded_key: Any = int.from_bytes(key, "little")
        else:
            decoded_key = decode_value(btf, d.key_type_id, key)
        entries.append({"key": decoded_key, "value": decoded})
    return entries
