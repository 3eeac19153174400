"""From a class of a deployment file to the verifier's `Policy`.

`inherits` is merged first (grants and helpers are the union of the class's and its
ancestors'; a limit the class does not set is the smallest its ancestors set), then
every grant is resolved against the class's entry and the development spec.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass

from bpftime.eim.model import ClassSpec, Development, EntryPoint, Grant, Limits, TypeLayout
from bpftime.eim.yamlnodes import Where
from bpftime.policy import (ContextKind, EntryArg, FieldGrant, HostFunction,
                                     HostVariable, Policy, ValueKind)


@dataclass(frozen=True)
class MergedClass:
    """A class with its ancestors folded in; `grants` pairs each grant with the class
    that wrote it (for messages)."""

    spec: ClassSpec
    entry: str
    entry_where: Where
    grants: tuple[tuple[Grant, str], ...]
    helpers: frozenset[int]
    limits: Limits


def _smallest(*values: int | None) -> int | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def merge_classes(classes: dict[str, ClassSpec]) -> dict[str, MergedClass]:
    """Fold `inherits` into every class; unknown parents and cycles are errors."""
    done: dict[str, MergedClass] = {}

    def merge(name: str, path: tuple[str, ...]) -> MergedClass:
        if name in done:
            return done[name]
        spec = classes[name]
        grants: list[tuple[Grant, str]] = []
        helpers: set[int] = set()
        parents: list[MergedClass] = []
        for parent, where in spec.inherits:
            if parent not in classes:
                raise where.error(f"class '{name}': inherits unknown class '{parent}'")
            if parent in path or parent == name:
                cycle = " -> ".join(path[path.index(parent):] + (name, parent)) \
                    if parent in path else f"{name} -> {name}"
                raise where.error(f"class '{name}': inheritance cycle {cycle}")
            parents.append(merge(parent, path + (name,)))
        for p in parents:
            grants.extend(g for g in p.grants if g not in grants)
            helpers |= p.helpers
        grants.extend((g, name) for g in spec.allow)
        helpers |= {hid for _, hid, _ in spec.helpers}
        entry, entry_where = spec.entry, spec.entry_where
        if entry is None:
            bound = {p.entry for p in parents}
            if len(bound) != 1:
                why = "inherits no class" if not bound else \
                    f"its parents are bound to different entries ({', '.join(sorted(bound))})"
                raise spec.where.error(f"class '{name}': no entry given and {why}")
            entry, entry_where = parents[0].entry, parents[0].entry_where
        limits = Limits(
            spec.limits.instructions if spec.limits.instructions is not None
            else _smallest(*(p.limits.instructions for p in parents)),
            spec.limits.memory if spec.limits.memory is not None
            else _smallest(*(p.limits.memory for p in parents)))
        done[name] = MergedClass(spec, entry, entry_where, tuple(grants), frozenset(helpers), limits)
        return done[name]

    for name in classes:
        merge(name, ())
    return done


def _field(layout: TypeLayout, path: list[str], what: str, where: Where) -> FieldGrant:
    offset, current = 0, layout
    for i, name in enumerate(path):
        if current is None:
            raise where.error(f"{what}: '{path[i - 1]}' is not a struct, it has no field '{name}'")
        field = current.fields.get(name)
        if field is None:
            known = ", ".join(current.fields) or "none"
            raise where.error(f"{what}: type '{current.name}' has no field '{name}' (fields: {known})")
        if field.bitfield:
            raise where.error(f"{what}: field '{name}' is a bit-field; grant the whole argument")
        offset += field.offset
        size = field.size
        current = field.layout
    return FieldGrant(offset, size)


def _entry_args(cls: MergedClass, entry: EntryPoint, dev: Development) -> tuple[EntryArg, ...]:
    if entry.prototype is None:
        params: tuple = ()
    else:
        params = entry.prototype.params
    reads: set[str] = set()
    writes: set[str] = set()
    fields: dict[str, list[FieldGrant]] = {}
    for grant, owner in cls.grants:
        if grant.kind not in ("read", "write"):
            continue
        what = f"class '{cls.spec.name}': {grant.text}"
        if owner != cls.spec.name:
            what += f" (inherited from class '{owner}')"
        if entry.prototype is None:
            raise grant.where.error(f"{what}: entry '{entry.name}' has no prototype")
        if entry.at == "return":
            raise grant.where.error(f"{what}: entry '{entry.name}' is a return; "
                                    "the arguments are gone there")
        arg, *path = grant.target.split(".")
        ptype = entry.prototype.param(arg)
        if ptype is None:
            names = ", ".join(n for n, _ in params) or "none"
            raise grant.where.error(f"{what}: entry '{entry.name}' has no parameter '{arg}' "
                                    f"(parameters: {names})")
        if ptype.kind is not ValueKind.PTR or ptype.type_name is None:
            raise grant.where.error(f"{what}: parameter '{arg}' must be ptr<T> so its size is known")
        if grant.kind == "read" and path:
            raise grant.where.error(f"{what}: read applies to a whole argument, not a field")
        reads.add(arg)
        if grant.kind == "write" and path:
            fields.setdefault(arg, []).append(
                _field(dev.layouts[ptype.type_name], path, what, grant.where))
        elif grant.kind == "write":
            writes.add(arg)
    return tuple(EntryArg(i, n, t, n in reads, n in writes,
                          () if n in writes else tuple(dict.fromkeys(fields.get(n, ()))))
                 for i, (n, t) in enumerate(params))


def _builtin_grants(entry: EntryPoint) -> list[str]:
    """The built-in `allow:` items at `entry`: return, io, and read/write of its ptr<T>
    arguments (a return entry has none)."""
    params = entry.prototype.params if entry.prototype is not None and entry.at == "entry" else ()
    args = [n for n, t in params if t.kind is ValueKind.PTR and t.type_name is not None]
    return ["return", "io", *(f"{op}({n})" for n in args for op in ("read", "write"))]


def _unknown_capability(target: str, entry: EntryPoint, dev: Development) -> str:
    """Why `allow: [target]` names nothing, with the closest valid item when one is close."""
    kind = "an entry, not a capability" if target in dev.entries else "unknown"
    builtins = _builtin_grants(entry)
    capabilities = [*dev.variables, *dev.functions]
    close = difflib.get_close_matches(target, builtins + capabilities, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return (f"capability '{target}' is {kind}{hint} (built-ins at entry '{entry.name}': "
            f"{', '.join(builtins)}; capabilities of {dev.spec.path.name}: "
            f"{', '.join(capabilities) or 'none'})")


def build_policy(cls: MergedClass, dev: Development) -> tuple[EntryPoint, Policy]:
    """The entry a class is bound to, and the Policy the verifier enforces for it."""
    name = cls.spec.name
    entry = dev.entries.get(cls.entry)
    if entry is None:
        known = ", ".join(dev.entries) or "none"
        raise cls.entry_where.error(f"class '{name}': unknown entry '{cls.entry}' (entries of "
                                    f"{dev.spec.path.name}: {known})")
    functions: dict[str, HostFunction] = {}
    variables: dict[str, HostVariable] = {}
    allow_return = allow_io = False
    for grant, owner in cls.grants:
        if grant.kind == "return":
            allow_return = True
        elif grant.kind == "io":
            allow_io = True
        elif grant.kind == "capability":
            if grant.target in dev.functions:
                fn = dev.functions[grant.target]
                functions[fn.symbol] = fn
            elif grant.target in dev.variables:
                var = dev.variables[grant.target]
                variables[var.symbol] = var
            else:
                what = f"class '{name}'" + (f" (inherited from class '{owner}')" if owner != name else "")
                raise grant.where.error(f"{what}: {_unknown_capability(grant.target, entry, dev)}")
    policy = Policy(
        class_name=name,
        context=ContextKind.PT_REGS,
        helpers=cls.helpers,
        functions=functions,
        variables=variables,
        entry_args=_entry_args(cls, entry, dev),
        allow_return=allow_return,
        allow_io=allow_io,
        max_instructions=cls.limits.instructions,
        max_memory=cls.limits.memory,
    )
    return entry, policy
