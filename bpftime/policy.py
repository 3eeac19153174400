"""What a class of extensions is allowed: the verifier's input from EIM.

`bpftime.eim` builds a `Policy` from the specification files and the host binary;
the verifier proves a program stays inside it. `default_tracing_policy` is the class
of a bare object loaded without a spec (like kernel uprobes).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from bpftime.helper_protos import PROTOS, TRACING_HELPERS


class ValueKind(str, Enum):
    INT = "int"     # u8..u64 / i8..i64
    PTR = "ptr"     # ptr or ptr<T>
    STR = "str"     # NUL-terminated string pointer
    VOID = "void"


@dataclass(frozen=True)
class ValueType:
    """A type in an EIM prototype. For INT `size` is its width in bytes; for PTR/STR
    it is the size of the pointee (from DWARF or `types:`), 0 when unknown."""

    kind: ValueKind
    size: int = 8
    signed: bool = False
    type_name: str | None = None  # the T of ptr<T>


@dataclass(frozen=True)
class Constraint:
    """One EIM constraint, parsed. `kind` is one of: reads, writes, alloc, frees,
    nonnull, str, io, relation. `args` are parameter names (or "ret") and integer
    constants; a relation has `op` in (<, <=, >, >=, ==, !=) over args[0] and args[1].
    `alloc` applies to ret: args = (size,), `nullable` says `| null` was given."""

    kind: str
    args: tuple[str | int, ...] = ()
    op: str | None = None
    nullable: bool = False
    text: str = ""  # as written in the spec, for messages


@dataclass(frozen=True)
class HostFunction:
    """A granted function capability, called from an extension as an extern (kfunc)."""

    capability: str          # the capability's name in the spec
    symbol: str              # the host symbol, which is the extern's name in the object
    params: tuple[tuple[str, ValueType], ...]
    ret: ValueType
    constraints: tuple[Constraint, ...] = ()

    @property
    def does_io(self) -> bool:
        return any(c.kind == "io" for c in self.constraints)


@dataclass(frozen=True)
class HostVariable:
    """A granted state capability: a host global, declared by the extension as a typed ksym."""

    capability: str
    symbol: str
    size: int
    writable: bool


@dataclass(frozen=True)
class FieldGrant:
    """Bytes [offset, offset+size) of an argument's pointee, e.g. from `write(r.status)`."""

    offset: int
    size: int


@dataclass(frozen=True)
class EntryArg:
    """A parameter of the extension entry and what the class may do through it.
    With `read`, loading it from the context yields host memory of `type.size` bytes;
    `write` makes the whole pointee writable, `write_fields` only those fields."""

    index: int               # 0-based parameter position (pt_regs di, si, dx, cx, r8, r9)
    name: str
    type: ValueType
    read: bool = False
    write: bool = False
    write_fields: tuple[FieldGrant, ...] = ()


class ContextKind(str, Enum):
    PT_REGS = "pt_regs"                  # uprobe / uretprobe / kprobe
    SYSCALL_ENTER = "syscall_enter"      # trace_event_raw_sys_enter
    SYSCALL_EXIT = "syscall_exit"        # trace_event_raw_sys_exit
    XDP = "xdp"                          # struct xdp_md
    MEMORY = "memory"                    # `bpftime run`: r1 = input, r2 = its length


@dataclass(frozen=True)
class Policy:
    """Everything one extension class may do. `helpers` holds kernel helper ids."""

    class_name: str
    context: ContextKind
    helpers: frozenset[int]
    functions: dict[str, HostFunction] = field(default_factory=dict)   # by symbol
    variables: dict[str, HostVariable] = field(default_factory=dict)   # by symbol
    entry_args: tuple[EntryArg, ...] = ()
    allow_return: bool = False        # bpf_override_return / setting the host's result
    allow_io: bool = False
    max_instructions: int | None = None   # static bound per invocation
    max_memory: int | None = None         # bytes of maps + stack
    allow_pointer_leak: bool = False      # pointers into maps / as return value
    input_size: int = 0                   # MEMORY context: bytes at r1, the value of r2


def context_for(attach_kind: str, event: str | None = None) -> ContextKind:
    """The context layout of a program attached as `attach_kind` (the loader's
    AttachPoint.kind; `event` is a tracepoint's name): the kernel's closest type."""
    if attach_kind == "xdp":
        return ContextKind.XDP
    if attach_kind == "tracepoint" and event:
        if event.startswith("sys_enter"):
            return ContextKind.SYSCALL_ENTER
        if event.startswith("sys_exit"):
            return ContextKind.SYSCALL_EXIT
    return ContextKind.PT_REGS


def default_tracing_policy(context: ContextKind = ContextKind.PT_REGS) -> Policy:
    """The class of a bare object (no spec), like a kernel uprobe: the standard
    tracing helpers and probe_read_user, no host writes, no host calls, no return."""
    return Policy(class_name="default", context=context, helpers=TRACING_HELPERS)


def memory_policy(input_size: int) -> Policy:
    """The class `bpftime run` uses: r1 points to `input_size` writable bytes, r2
    holds that size; every helper bpftime knows may be called."""
    return Policy(class_name="run", context=ContextKind.MEMORY, helpers=frozenset(PROTOS),
                  input_size=input_size)
