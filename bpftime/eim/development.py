"""Reading a development-time file (state, functions, entries, types) into a DevelopmentSpec."""
from __future__ import annotations

from pathlib import Path

from bpftime.eim.constraints import ConstraintError, parse_constraint
from bpftime.eim.model import DevelopmentSpec, EntrySpec, FunctionSpec, StateSpec
from bpftime.eim.prototype import Prototype, PrototypeError, parse_prototype
from bpftime.eim.sections import Names, check_version, read_types, resolve_path, spec_name, symbol_name
from bpftime.eim.yamlnodes import Node, compose_file

MAX_CALL_ARGS = 5     # eBPF passes r1..r5 to a called function
MAX_ENTRY_ARGS = 6    # rdi, rsi, rdx, rcx, r8, r9 in pt_regs


def _prototype(node: Node, what: str) -> Prototype:
    text = node.text(f"{what} prototype")
    try:
        return parse_prototype(text)
    except PrototypeError as err:
        raise node.error(f"{what}: prototype \"{text}\" does not parse: {err}") from None


def _constraint_text(node: Node) -> str:
    """A constraint item; `- ret: alloc(n) | null` unquoted in YAML is a one-key mapping."""
    if node.is_mapping():
        pairs = list(node.pairs("constraint"))
        if len(pairs) == 1:
            key, value = pairs[0]
            return f"{key.name('constraint')}: {value.text('constraint')}"
        raise node.error("constraint: expected one line of text")
    return node.text("constraint")


def _state(node: Node, names: Names) -> StateSpec:
    f = node.mapping("state capability", ("name", "variable", "access"), ("name", "variable"))
    name = spec_name(f["name"], "state capability name")
    names.add(name, f["name"])
    access = "read"
    if "access" in f:
        access = f["access"].text(f"state '{name}' access")
        if access not in ("read", "write"):
            raise f["access"].error(f"state '{name}': access must be read or write, got '{access}'")
    return StateSpec(name, symbol_name(f["variable"], f"state '{name}' variable"),
                     access == "write", node.where)


def _function(node: Node, names: Names) -> FunctionSpec:
    f = node.mapping("function capability", ("name", "function", "prototype", "constraints"),
                     ("name", "function", "prototype"))
    name = spec_name(f["name"], "function capability name")
    names.add(name, f["name"])
    what = f"function '{name}'"
    proto = _prototype(f["prototype"], what)
    if len(proto.params) > MAX_CALL_ARGS:
        raise f["prototype"].error(f"{what}: {len(proto.params)} parameters, but an eBPF call "
                                   f"passes at most {MAX_CALL_ARGS}")
    constraints = []
    for item in f.items("constraints", f"{what} constraints"):
        text = _constraint_text(item)
        try:
            constraints.append(parse_constraint(text, proto))
        except ConstraintError as err:
            raise item.error(f"{what}: constraint {err}") from None
    return FunctionSpec(name, symbol_name(f["function"], f"{what} function"), proto,
                        tuple(constraints), node.where)


def _entry(node: Node, names: Names) -> EntrySpec:
    f = node.mapping("entry", ("name", "function", "at", "prototype"), ("name", "function"))
    name = spec_name(f["name"], "entry name")
    names.add(name, f["name"])
    what = f"entry '{name}'"
    at = "entry"
    if "at" in f:
        at = f["at"].text(f"{what} at")
        if at not in ("entry", "return"):
            raise f["at"].error(f"{what}: at must be entry or return, got '{at}'")
    proto = _prototype(f["prototype"], what) if "prototype" in f else None
    if proto is not None and len(proto.params) > MAX_ENTRY_ARGS:
        raise f["prototype"].error(f"{what}: {len(proto.params)} parameters, but only "
                                   f"{MAX_ENTRY_ARGS} arrive in registers")
    return EntrySpec(name, symbol_name(f["function"], f"{what} function"), at, proto, node.where)


def read_development(path: Path) -> DevelopmentSpec:
    """Parse and check a development-time file (without looking at the host)."""
    path = Path(path)
    root = compose_file(path)
    top = root.mapping("development spec", ("eim", "host", "types", "state", "functions", "entries"),
                       ("eim",))
    check_version(top)
    names = Names("capability or entry")
    types = read_types(top["types"]) if "types" in top else {}
    state = {s.name: s for s in (_state(n, names) for n in top.items("state", "state"))}
    functions = {s.name: s for s in (_function(n, names) for n in top.items("functions", "functions"))}
    entries = {s.name: s for s in (_entry(n, names) for n in top.items("entries", "entries"))}
    host = resolve_path(path, top["host"], "host") if "host" in top else None
    return DevelopmentSpec(path, host, (top["host"] if "host" in top else root).where,
                           types, state, functions, entries)
