"""`bpftime inspect OBJ`: programs, maps, global data, externs and BTF of an object."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import click

from bpftime.elf import BpfObject, MapDef


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


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    return ["  " + "  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def _text(info: dict) -> list[str]:
    lines = [f"object {info['object']}  license {info['license'] or '(none)'}", "", "programs:"]
    lines += _table([[p["name"], p["section"], p["attach"]["kind"], _target(p["attach"]), p["insns"],
                      ",".join(p["maps"]) or "-"] for p in info["programs"]],
                    ["NAME", "SECTION", "ATTACH", "TARGET", "INSNS", "MAPS"]) if info["programs"] else ["  (none)"]
    lines += ["", "maps:"]
    lines += _table([[m["name"], m["type"], m["key_size"], m["value_size"], m["max_entries"],
                      f"{m['flags']:#x}", m.get("value_type", "")] for m in info["maps"]],
                    ["NAME", "TYPE", "KEY", "VALUE", "MAX", "FLAGS", "VALUE TYPE"]) if info["maps"] else ["  (none)"]
    if info["globals"]:
        lines += ["", "global data:"]
        lines += _table([[g["name"], g["section"], g["offset"], g["size"], g["type"] or ""]
                         for g in info["globals"]], ["NAME", "SECTION", "OFFSET", "SIZE", "TYPE"])
    if info["externs"]:
        lines += ["", "externs:"]
        lines += _table([[e["name"], e["kind"] + (" (weak)" if e["weak"] else ""), e["section"] or "",
                          e["type"] or ""] for e in info["externs"]], ["NAME", "KIND", "SECTION", "TYPE"])
    btf = info["btf"]
    lines += ["", "btf: " + (f"{btf['types']} types, {btf['string_bytes']} bytes of strings ("
                             + ", ".join(f"{k.lower()} {n}" for k, n in btf["kinds"].items()) + ")"
                             if btf else "none")]
    return lines


def _target(attach: dict) -> str:
    if "binary" in attach:
        where = attach["binary"] + ":" + (attach.get("function") or "")
        return where + (f"+{attach['offset']:#x}" if attach.get("offset") else "")
    return attach.get("target") or "-"


@click.command()
@click.argument("obj", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the description as JSON.")
def inspect(obj: Path, as_json: bool) -> int:
    """Show the programs, maps, global data, externs and BTF of the object OBJ."""
    from bpftime.elf import load_object

    info = describe(load_object(obj))
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo("\n".join(_text(info)))
    return 0
