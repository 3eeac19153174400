"""`bpftime inspect OBJ`: programs, maps, global data, externs and BTF of an object."""
from __future__ import annotations

import json
from pathlib import Path

import click


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
    from bpftime.api import inspect as describe

    info = describe(obj)
    if as_json:
        click.echo(json.dumps(info, indent=2))
    else:
        click.echo("\n".join(_text(info)))
    return 0
