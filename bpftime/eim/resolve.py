"""Resolving a development-time spec against its host binary.

Symbols come from LIEF (`symbols.py`), types and prototypes from DWARF (`dwarf.py`),
with the spec's `types:` section as the fallback for hosts without DWARF. Every
mismatch names the spec's side and the host's side.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bpftime.eim.dwarf import CFunction, CType, HostDwarf
from bpftime.eim.model import Development, DevelopmentSpec, EntryPoint, TypeLayout
from bpftime.eim.prototype import Prototype, format_type
from bpftime.eim.symbols import HostSymbols, Symbol, read_symbols
from bpftime.eim.yamlnodes import Where
from bpftime.errors import LoadError
from bpftime.policy import HostFunction, HostVariable, ValueKind, ValueType


def format_cfunction(fn: CFunction) -> str:
    params = [f"{t.spelled} {n}" for n, t in fn.params] + (["..."] if fn.variadic else [])
    return f"{fn.ret.spelled} {fn.name}({', '.join(params) or 'void'})"


def type_matches(spec: ValueType, c: CType) -> bool:
    """Whether a spec type may stand for a C type from DWARF."""
    if spec.kind is ValueKind.VOID:
        return c.kind == "void"
    if spec.kind is ValueKind.INT:
        return c.kind == "int" and c.size == spec.size and c.signed == spec.signed
    if c.kind != "ptr":
        return False
    if spec.kind is ValueKind.STR:
        return c.pointee_char
    return spec.type_name is None or spec.type_name in c.names


def prototype_mismatch(proto: Prototype, fn: CFunction) -> str | None:
    """Why `proto` does not describe `fn`, or None when it does."""
    if fn.variadic:
        return "the host function is variadic"
    if len(proto.params) != len(fn.params):
        return f"{len(proto.params)} parameters in the spec, {len(fn.params)} in the host"
    for i, ((name, t), (cname, c)) in enumerate(zip(proto.params, fn.params), 1):
        if not type_matches(t, c):
            return (f"parameter {i} '{name}' is {format_type(t)} in the spec "
                    f"but '{c.spelled} {cname}' in the host")
    if not type_matches(proto.ret, fn.ret):
        return f"it returns {format_type(proto.ret)} in the spec but '{fn.ret.spelled}' in the host"
    return None


class Resolver:
    """Looks names of one development spec up in its host."""

    def __init__(self, spec: DevelopmentSpec, host: Path, symbols: HostSymbols, dwarf: HostDwarf):
        self.spec = spec
        self.host = host
        self.symbols = symbols
        self.dwarf = dwarf
        self.layouts: dict[str, TypeLayout] = {}

    def symbol(self, name: str, function: bool, what: str, where: Where) -> Symbol:
        sym = self.symbols.get(name)
        if sym is None:
            raise where.error(f"{what}: '{name}' is not a symbol of host {self.host}")
        if sym.is_function != function:
            actual = "a function" if sym.is_function else "a variable"
            raise where.error(f"{what}: '{name}' is {actual} in host {self.host}")
        if not sym.defined:
            raise where.error(f"{what}: '{name}' is imported by host {self.host}, not defined in it")
        return sym

    def layout(self, name: str, what: str, where: Where) -> TypeLayout:
        """The layout of T in ptr<T>: DWARF first, then `types:`; both must agree on size."""
        if name in self.layouts:
            return self.layouts[name]
        from_dwarf = self.dwarf.layout(name)
        from_spec = self.spec.types.get(name)
        if from_dwarf is not None and from_spec is not None and from_dwarf.size != from_spec.size:
            raise where.error(f"{what}: type '{name}' is {from_spec.size} bytes in {from_spec.origin} "
                              f"but {from_dwarf.size} bytes in the DWARF of host {self.host}")
        layout = from_dwarf or from_spec
        if layout is None:
            raise where.error(f"{what}: type '{name}' is neither in the DWARF of host {self.host} "
                              "nor in the spec's types: section")
        self.layouts[name] = layout
        return layout

    def sized(self, t: ValueType, what: str, where: Where) -> ValueType:
        if t.kind is ValueKind.PTR and t.type_name is not None:
            return replace(t, size=self.layout(t.type_name, what, where).size)
        return t

    def prototype(self, proto: Prototype, function: str, what: str,
                  where: Where) -> tuple[tuple[tuple[str, ValueType], ...], ValueType]:
        """Check `proto` against the function's DWARF (when present); size its pointers."""
        fn = self.dwarf.function(function)
        if fn is not None:
            why = prototype_mismatch(proto, fn)
            if why is not None:
                raise where.error(f"{what}: spec prototype \"{proto.text}\" does not match the "
                                  f"host's \"{format_cfunction(fn)}\" ({why})")
        params = tuple((n, self.sized(t, what, where)) for n, t in proto.params)
        return params, self.sized(proto.ret, what, where)


def check_host(binary: Path, where: Where) -> None:
    """A `host:` written in a spec must be a regular file: else an error at `where`."""
    if not binary.is_file():
        why = "is not a regular file" if binary.exists() else "not found"
        raise where.error(f"host binary {binary} {why}")


def resolve_development(spec: DevelopmentSpec, host: Path | None = None) -> Development:
    """Resolve every name of `spec` in its host (or in `host`, which overrides `host:`)."""
    if host is not None:
        binary = Path(host)
        if not binary.exists():
            raise LoadError(f"{binary}: host binary not found (given for {spec.path})")
    elif spec.host is None:
        raise spec.host_where.error("no host: name the host binary here, in the deployment "
                                    "file, or on the command line")
    else:
        binary = spec.host
        check_host(binary, spec.host_where)
    symbols = read_symbols(binary)
    with HostDwarf(binary) as dwarf:
        r = Resolver(spec, binary, symbols, dwarf)
        variables = {}
        addresses = {}
        for s in spec.state.values():
            sym = r.symbol(s.variable, False, f"state '{s.name}'", s.where)
            variables[s.name] = HostVariable(s.name, s.variable, sym.size, s.writable)
            addresses[sym.name] = sym.address
        functions = {}
        for f in spec.functions.values():
            what = f"function '{f.name}'"
            addresses[f.function] = r.symbol(f.function, True, what, f.where).address
            params, ret = r.prototype(f.prototype, f.function, what, f.where)
            functions[f.name] = HostFunction(f.name, f.function, params, ret, f.constraints)
        entries = {}
        for e in spec.entries.values():
            what = f"entry '{e.name}'"
            sym = r.symbol(e.function, True, what, e.where)
            proto = e.prototype
            if proto is not None:
                params, ret = r.prototype(proto, e.function, what, e.where)
                proto = Prototype(params, ret, proto.text)
            entries[e.name] = EntryPoint(e.name, e.function, e.at, binary, sym.address,
                                         sym.size, proto)
        return Development(spec, binary, entries, functions, variables, dict(r.layouts), addresses)
