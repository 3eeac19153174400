"""Checking an extension object's externs against what its class was granted.

An extension declares each granted host function as an extern (`extern u64
ngx_time(void) __ksym;`) and each host variable as a typed ksym. `check_externs`
compares the BTF of every extern the class grants with the spec: a host function's
parameter count and types, a variable's size. A mismatch is a LoadError naming the
object's prototype and the spec's. Externs the class does not grant are left to the
verifier, which rejects a call to them with the instruction that makes it.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from bpftime.eim.prototype import format_prototype, format_type
from bpftime.errors import LoadError
from bpftime.policy import HostFunction, Policy, ValueKind, ValueType

if TYPE_CHECKING:
    from bpftime.btf import Btf
    from bpftime.elf.model import BpfObject

_INT_CHAR = 2


def _pointee_matches(btf: "Btf", type_id: int, spec: ValueType) -> bool:
    from bpftime.btf import Kind
    from bpftime.btf.types import MODIFIERS

    btf.resolve(type_id)  # a modifier loop is a LoadError there, not an endless walk here
    target = btf.type(type_id)
    names = set()
    while target.kind in MODIFIERS:
        if target.kind == Kind.TYPEDEF:
            names.add(target.name)
        target = btf.type(target.type)
    if target.kind == Kind.VOID:
        return spec.kind is ValueKind.PTR     # void * stands for any ptr, not for str
    if spec.kind is ValueKind.STR:
        return target.kind == Kind.INT and (target.size == 1 or bool(target.int_encoding & _INT_CHAR))
    if spec.type_name is None:
        return True
    names.add(target.name)
    if spec.type_name in names:
        return True
    # the same struct under another name (tag vs typedef): same size
    return target.kind in (Kind.STRUCT, Kind.UNION) and target.size == spec.size


def btf_type_matches(btf: "Btf", type_id: int, spec: ValueType) -> bool:
    """Whether the BTF type `type_id` may stand for the spec type `spec`."""
    from bpftime.btf import Kind

    t = btf.resolve(type_id)
    if spec.kind is ValueKind.VOID:
        return t.kind == Kind.VOID
    if spec.kind is ValueKind.INT:
        return t.kind in (Kind.INT, Kind.ENUM, Kind.ENUM64) and t.size == spec.size \
            and t.signed == spec.signed
    return t.kind == Kind.PTR and _pointee_matches(btf, t.type, spec)


def _function_mismatch(btf: "Btf", proto_id: int, fn: HostFunction) -> str | None:
    from bpftime.btf import Kind

    proto = btf.resolve(proto_id)
    if proto.kind != Kind.FUNC_PROTO:
        return "its BTF type is not a function prototype"
    params = proto.params
    if params and params[-1].type == 0:
        return "the extern is variadic"
    if len(params) != len(fn.params):
        return f"{len(params)} parameters in the object, {len(fn.params)} in the spec"
    for i, (p, (name, t)) in enumerate(zip(params, fn.params), 1):
        if not btf_type_matches(btf, p.type, t):
            return (f"parameter {i} is '{btf.name_of(p.type)}' in the object but "
                    f"{format_type(t)} {name} in the spec")
    if not btf_type_matches(btf, proto.type, fn.ret):
        return f"it returns '{btf.name_of(proto.type)}' in the object but {format_type(fn.ret)} in the spec"
    return None


def check_externs(policy: Policy, obj: "BpfObject") -> None:
    """Raise LoadError if an extern the class grants is declared unlike the spec says."""
    btf = obj.btf
    for ext in obj.externs:
        fn = policy.functions.get(ext.name)
        var = policy.variables.get(ext.name)
        if (ext.kind == "var" and fn is not None) or (ext.kind == "func" and var is not None):
            granted = f"function '{fn.capability}'" if fn else f"state '{var.capability}'"
            declared = "a function" if ext.kind == "func" else "a variable"
            raise LoadError(f"{obj.path}: extern '{ext.name}' is declared as {declared} but "
                            f"class '{policy.class_name}' grants it as {granted}")
        if btf is None or ext.type_id == 0:
            continue
        if ext.kind == "func" and fn is not None:
            why = _function_mismatch(btf, ext.type_id, fn)
            if why is not None:
                declared = btf.name_of(ext.btf_id) if ext.btf_id else ext.name
                raise LoadError(
                    f"{obj.path}: extern '{ext.name}' is declared \"{declared}\" but capability "
                    f"'{fn.capability}' of class '{policy.class_name}' has prototype "
                    f"\"{format_prototype(fn.params, fn.ret)}\" ({why})")
        if ext.kind == "var" and var is not None:
            size = btf.size(ext.type_id)
            if size > var.size:
                raise LoadError(
                    f"{obj.path}: extern '{ext.name}' is declared \"{btf.name_of(ext.type_id)}\" "
                    f"({size} bytes) but state capability '{var.capability}' of class "
                    f"'{policy.class_name}' is {var.size} bytes in the host")
