"""The EIM model: what the spec files say (`*Spec`) and what they resolve to.

Development-time (`DevelopmentSpec`): state and function capabilities and extension
entries of one host. Deployment-time (`DeploymentSpec`): classes bound to an entry with
their grants and limits, and the extensions that run in them. Resolution against the
host binary gives a `Development` and a `Deployment`, whose classes carry the verifier's
`bpftime.policy.Policy`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bpftime.eim.prototype import Prototype
from bpftime.eim.yamlnodes import Where
from bpftime.policy import Constraint, HostFunction, HostVariable, Policy

EIM_VERSION = 1


# --- type layouts (from DWARF or a spec's `types:` section) ----------------------
@dataclass(frozen=True)
class FieldLayout:
    """A member of a struct: byte offset and size; `layout` when it is itself a struct."""

    name: str
    offset: int
    size: int
    layout: "TypeLayout | None" = None
    bitfield: bool = False


@dataclass(frozen=True)
class TypeLayout:
    """The size of a type and its fields, which bound every access through a `ptr<T>`."""

    name: str
    size: int
    fields: dict[str, FieldLayout] = field(default_factory=dict)
    origin: str = ""   # "DWARF of HOST" or "types: at FILE:LINE", for messages


# --- development-time ------------------------------------------------------------
@dataclass(frozen=True)
class StateSpec:
    """A state capability: a host global an extension may read (or write)."""

    name: str
    variable: str
    writable: bool
    where: Where


@dataclass(frozen=True)
class FunctionSpec:
    """A function capability: a host function an extension may call, with its contract."""

    name: str
    function: str
    prototype: Prototype
    constraints: tuple[Constraint, ...]
    where: Where


@dataclass(frozen=True)
class EntrySpec:
    """An extension entry: a host function's entry or return."""

    name: str
    function: str
    at: str                      # "entry" | "return"
    prototype: Prototype | None
    where: Where


@dataclass
class DevelopmentSpec:
    path: Path
    host: Path | None            # None: the deployment file or the caller names it
    host_where: Where
    types: dict[str, TypeLayout]
    state: dict[str, StateSpec]
    functions: dict[str, FunctionSpec]
    entries: dict[str, EntrySpec]


# --- deployment-time -------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    """One `allow:` item. kind: capability | read | write | return | io; `target` is the
    capability name or the argument path (`r` or `r.status`)."""

    kind: str
    target: str
    where: Where

    @property
    def text(self) -> str:
        if self.kind in ("read", "write"):
            return f"{self.kind}({self.target})"
        return self.target if self.kind == "capability" else self.kind


@dataclass(frozen=True)
class Limits:
    instructions: int | None = None
    memory: int | None = None


@dataclass(frozen=True)
class ClassSpec:
    name: str
    entry: str | None
    entry_where: Where | None
    allow: tuple[Grant, ...]
    helpers: tuple[tuple[str, int, Where], ...]    # (name as written, kernel id, where)
    limits: Limits
    inherits: tuple[tuple[str, Where], ...]
    where: Where


@dataclass(frozen=True)
class ExtensionSpec:
    name: str
    object: Path                 # resolved relative to the deployment file
    program: str
    class_name: str
    where: Where                 # of `class:`
    object_where: Where
    program_where: Where


@dataclass
class DeploymentSpec:
    path: Path
    uses: Path
    host: Path | None            # overrides the development file's host when set
    host_where: Where | None
    classes: dict[str, ClassSpec]
    extensions: dict[str, ExtensionSpec]


# --- resolved ----------------------------------------------------------------------
@dataclass(frozen=True)
class EntryPoint:
    """Where extensions of a class attach: `function` of `host`, at entry or return.
    `address` is the symbol's virtual address in the file (PIE: an offset from the
    load base), `size` its length in bytes."""

    name: str
    function: str
    at: str
    host: Path
    address: int
    size: int
    prototype: Prototype | None


@dataclass
class Development:
    """A development-time spec resolved against its host binary."""

    spec: DevelopmentSpec
    host: Path
    entries: dict[str, EntryPoint]
    functions: dict[str, HostFunction]        # by capability name
    variables: dict[str, HostVariable]        # by capability name
    layouts: dict[str, TypeLayout]            # every ptr<T> type the spec names
    addresses: dict[str, int] = field(default_factory=dict)
    """Virtual address in the host file of every capability's symbol (PIE: an offset from
    the load base), for linking externs."""


@dataclass(frozen=True)
class ExtensionClass:
    name: str
    entry: EntryPoint
    policy: Policy


@dataclass(frozen=True)
class Extension:
    """An extension of a deployment; `object_where` and `program_where` locate its
    `object:` and `program:` in the file, for errors about the object."""

    name: str
    object: Path
    program: str
    class_name: str
    entry: EntryPoint
    policy: Policy
    object_where: Where
    program_where: Where


@dataclass
class Deployment:
    path: Path
    development: Development
    classes: dict[str, ExtensionClass]
    extensions: list[Extension]
