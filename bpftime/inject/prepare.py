"""Everything `bpftime load` decides before the host starts: which extensions run
where (targets), each verified under its class and compiled to a program image, and
one hook plan per entry of the host. Any problem is a BpftimeError raised here,
before a session exists or a host runs."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bpftime.elf.loader import load_object
from bpftime.elf.model import BpfObject
from bpftime.errors import LoadError
from bpftime.inject.events import EventType, find_event_type
from bpftime.inject.targets import Attachment, from_deployment, from_object, is_object


@dataclass
class CompiledProgram:
    """One verified program of one object, compiled; shared by its attachments."""

    name: str
    obj: BpfObject
    image: object           # bpftime.jit.image.ProgramImage
    host_symbols: dict[str, int] = field(default_factory=dict)  # externs: symbol -> host address


@dataclass
class PlannedHook:
    """One patched entry: its plan and the programs it runs, in order."""

    plan: object            # bpftime.hook.plan.HookPlan
    where: str              # for messages: the entry as the user named it
    programs: list[tuple[int, bool]] = field(default_factory=list)  # (program index, at return)


@dataclass(frozen=True)
class TailSlot:
    """Slot `slot` of prog_array map `map_index` of `obj` holds program `program`
    (libbpf's `.values = { [slot] = &prog }`): the agent fills it with the image."""

    obj: BpfObject
    map_index: int
    slot: int
    program: int


@dataclass
class Prepared:
    host: Path
    objects: list[BpfObject]
    programs: list[CompiledProgram]
    hooks: list[PlannedHook]
    event_type: EventType | None
    tails: list[TailSlot] = field(default_factory=list)


@dataclass
class LoadRequest:
    """The command line of `bpftime load`, minus the host's arguments."""

    target: Path
    host: Path
    progs: tuple[str, ...] = ()
    attach: tuple[str, ...] = ()
    event_type: str | None = None


def attachments(req: LoadRequest) -> list[Attachment]:
    """The (extension, entry) pairs TARGET asks for."""
    if is_object(req.target):
        from bpftime.policy import default_tracing_policy

        return from_object(load_object(req.target), default_tracing_policy(), req.progs, req.attach)
    if req.attach:
        raise LoadError(f"{req.target}: --attach applies to an object; a deployment's entries "
                        f"come from its classes")
    from bpftime.eim import load_deployment

    objects: dict[Path, BpfObject] = {}

    def load_once(path: Path) -> BpfObject:
        if path not in objects:
            objects[path] = load_object(path)
        return objects[path]

    return from_deployment(load_deployment(req.target, host=req.host), load_once, req.progs)


def compile_verified(att: Attachment) -> object:
    """Check the object's externs against the class, verify `att`'s program under the
    class's policy, then JIT it."""
    from bpftime.eim.externs import check_externs
    from bpftime.jit.codegen import compile_program
    from bpftime.runtime import helper_available
    from bpftime.verifier import verify_program

    check_externs(att.policy, att.obj)
    verify_program(att.program, att.obj, att.policy)
    return compile_program(att.program.insns, helper_available)


def loaded_at_start(host: Path) -> set[str]:
    """Real paths of the host and of every library the dynamic linker loads with it
    (DT_NEEDED, transitively): the modules an entry can be in when the agent starts."""
    import os

    from bpftime.hook.elfinfo import open_elf
    from bpftime.hook.resolve import find_library

    root = open_elf(str(host))
    seen = {os.path.realpath(host)}
    pending = [root]
    while pending:
        elf = pending.pop()
        for name in elf.needed:
            path = find_library(name, root)
            if path is not None and os.path.realpath(path) not in seen:
                seen.add(os.path.realpath(path))
                pending.append(open_elf(path))
    return seen


def prepare(req: LoadRequest, pid: int | None = None) -> Prepared:
    """Verified, compiled and planned; with `pid`, entries resolve in that running
    process (the modules its /proc/PID/maps shows now) instead of the host at start."""
    import os

    from bpftime.hook.plan import plan_hook
    from bpftime.hook.resolve import Resolver

    atts = attachments(req)
    resolver = Resolver(req.host, pid)
    if pid is None:
        modules = loaded_at_start(req.host)
    else:
        modules = {os.path.realpath(p) for p in resolver.module_paths()}
    objects: list[BpfObject] = []
    programs: list[CompiledProgram] = []
    by_program: dict[tuple[int, str, str], int] = {}
    hooks: dict[tuple[str, int], PlannedHook] = {}

    def program_index(att: Attachment) -> int:
        """Index of `att`'s program, verified and compiled once per object and class."""
        key = (id(att.obj), att.program.name, att.policy.class_name)
        if key not in by_program:
            by_program[key] = len(programs)
            programs.append(CompiledProgram(att.name, att.obj, compile_verified(att),
                                            att.host_symbols))
        return by_program[key]

    for att in atts:
        if all(o is not att.obj for o in objects):
            objects.append(att.obj)
        index = program_index(att)
        entry = resolver.resolve(att.entry)
        if entry.module not in modules:
            where = (f"by {req.host} when it starts (not among the libraries it needs)"
                     if pid is None else f"in process {pid}")
            raise LoadError(f"{att.describe()}: {entry.module} is not loaded {where}")
        spot = (entry.module, entry.vaddr)
        if spot not in hooks:
            hooks[spot] = PlannedHook(plan_hook(entry), att.entry)
        hooks[spot].programs.append((index, att.kind == "uretprobe"))
    tails = [TailSlot(obj, map_index, slot, program_index(att))
             for obj, map_index, slot, att in _tail_calls(atts, objects)]
    event_type = None
    if req.event_type:
        event_type = find_event_type(req.event_type, [(o.path, o.btf) for o in objects])
    return Prepared(req.host, objects, programs, list(hooks.values()), event_type, tails)


def _tail_calls(atts: list[Attachment], objects: list[BpfObject]):
    """(object, map index, slot, attachment-like) for every program an object's
    prog_array maps hold from the start; the program runs under the class of the
    object's first extension."""
    from dataclasses import replace

    from bpftime.kernel_abi import MapType

    for obj in objects:
        first = next(a for a in atts if a.obj is obj)
        for map_index, m in enumerate(obj.maps):
            if m.type != MapType.PROG_ARRAY:
                continue
            for slot, name in sorted(m.inner_init.items()):
                if not 0 <= slot < m.max_entries:
                    raise LoadError(f"{obj.path}: map {m.name}: slot {slot} is beyond its "
                                    f"{m.max_entries} entries")
                yield obj, map_index, slot, replace(first, name=name, program=obj.program(name))
