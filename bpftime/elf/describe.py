"""A loaded object as JSON-able data: what `bpftime inspect --json` prints."""
from __future__ import annotations

from collections import Counter

from bpftime.elf.model import BpfObject, MapDef


def describe(obj: BpfObject) -> dict:
    """The object as JSON-able data (the `--json` output)."""
    btf = obj.btf

    def type_name(type_id: int) -> str | None:
        return btf.name_of(type_id) if btf is not None and type_id else None

    def map_json(m: MapDef) -> dict:
        out = m.to_json()
        if type_name(m.key_type_id):
            out["key_type"] = type_name(m.key_type_id)
        if type_name(m.value_type_id):
            out["value_type"] = type_name(m.value_type_id)
        return out

    programs = [{
        "name": p.name, "section": p.section, "attach": p.attach.to_json(), "insns": len(p.insns),
        "subprograms": [name for name, _ in p.subprograms],
        "maps": sorted({r.name for r in p.relocs if r.kind in ("map", "map_value")}),
        "relocations": len(p.relocs), "line_info": len(p.line_info), "core_relos": len(p.core_relos),
    } for p in obj.programs]
    out = {
        "object": obj.path,
        "license": obj.license,
        "programs": programs,
        "maps": [map_json(m) for m in obj.maps],
        "globals": [{"name": g.name, "map": g.map, "section": g.section, "offset": g.offset,
                     "size": g.size, "type": type_name(g.type_id)} for g in obj.globals],
        "externs": [{"name": e.name, "kind": e.kind, "type": type_name(e.btf_id),
                     "section": e.section or None, "weak": e.weak} for e in obj.externs],
        "btf": None,
    }
    if btf is not None:
        kinds = Counter(t.kind.name for t in btf)
        out["btf"] = {"types": len(btf) - 1, "string_bytes": len(btf.strings),
                      "kinds": dict(sorted(kinds.items()))}
    return out
