"""Writing a prepared load into a new session: the objects' maps, one image per
compiled program with its link table described slot by slot, one plan per hooked
entry, the "load" table the agent starts from, and what `bpftime maps` needs to show
the maps later (each map's object and BTF types)."""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from pathlib import Path

from bpftime.elf.model import BpfObject, MapDef
from bpftime.errors import LoadError
from bpftime.inject import records
from bpftime.inject.mapview import MAP_INFO_OBJECT, map_info_blob
from bpftime.inject.prepare import CompiledProgram, Prepared
from bpftime.inject.records import SlotKind, SlotRecord, Status
from bpftime.runtime import Map, ObjectKind, Session
from bpftime.runtime.session import DEFAULT_SIZE, NAME_LEN

CODE_ALIGN = 16
TRACE_RING = 1 << 20   # bpf_trace_printk lines waiting for the CLI (drained every 20 ms)


@dataclass(frozen=True)
class SessionMap:
    """A map of the session and where its types are described."""

    map: Map
    obj: BpfObject
    definition: MapDef


@dataclass
class LoadSession:
    """A session holding one prepared load; `status()` is what the agent reported."""

    session: Session
    maps: list[SessionMap]
    load_offset: int

    def status(self) -> Status:
        return records.read_status(self.session, self.load_offset)

    def destroy(self) -> None:
        self.session.close()
        self.session.unlink()


def _write(session: Session, offset: int, data: bytes) -> None:
    ctypes.memmove(session.address(offset), data, len(data))


def _add(session: Session, kind: ObjectKind, name: str, data: bytes) -> int:
    offset = session.add_object(kind, name, max(len(data), 8))
    _write(session, offset, data)
    return offset


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _map_names(objects: list[BpfObject]) -> dict[tuple[int, int], str]:
    """Session names of the maps: the map's own name, prefixed with its object's file
    name where two objects declare the same one."""
    seen: dict[str, int] = {}
    for obj in objects:
        for m in obj.maps:
            seen[m.name] = seen.get(m.name, 0) + 1
    names = {}
    for i, obj in enumerate(objects):
        stem = Path(obj.path).name.removesuffix(".o").removesuffix(".bpf")
        for j, m in enumerate(obj.maps):
            name = m.name if seen[m.name] == 1 else f"{stem}.{m.name}"
            if len(name.encode()) >= NAME_LEN:
                raise LoadError(f"{obj.path}: map name {name!r} is longer than {NAME_LEN - 1} bytes")
            names[(i, j)] = name
    return names


def _session_size(objects: list[BpfObject]) -> int:
    from bpftime.verifier import map_bytes

    data = sum(map_bytes(m) + m.max_entries * 64 for obj in objects for m in obj.maps)
    return _align(DEFAULT_SIZE + 2 * data, 1 << 20)


def _slots(session: Session, prog: CompiledProgram, obj_maps: list[Map]) -> list[SlotRecord]:
    """The agent's instructions for every link-table slot of `prog`'s image."""
    from bpftime.jit.image import SlotKind as JitSlot

    where = f"{prog.obj.path}: program {prog.name}"
    out = []
    for slot in prog.image.slots:
        if slot.kind == JitSlot.HELPER:
            out.append(SlotRecord(SlotKind.HELPER, slot.index))
        elif slot.kind == JitSlot.MAP:
            out.append(SlotRecord(SlotKind.SESSION, value=obj_maps[slot.index].handle - session.base))
        elif slot.kind == JitSlot.MAP_VALUE:
            value = obj_maps[slot.index].value_address(bytes(4))
            if value is None:
                raise LoadError(f"{where}: map {obj_maps[slot.index].name} has no value to point into")
            out.append(SlotRecord(SlotKind.SESSION, value=value - session.base + slot.arg))
        else:
            name = prog.obj.externs[slot.index].name
            if name not in prog.host_symbols:
                raise LoadError(f"{where}: extern {name} is not a host function or variable its "
                                f"class grants (load it through an EIM deployment that does)")
            out.append(SlotRecord(SlotKind.HOST, value=prog.host_symbols[name]))
    return out


def build_session(prepared: Prepared, name: str | None = None) -> LoadSession:
    """A new session with everything the agent needs; removed again on any error."""
    session = Session.create(name, size=_session_size(prepared.objects) + TRACE_RING,
                             trace_size=TRACE_RING)
    try:
        return _fill(session, prepared)
    except BaseException:
        session.close()
        session.unlink()
        raise


def _fill(session: Session, prepared: Prepared) -> LoadSession:
    names = _map_names(prepared.objects)
    maps: list[SessionMap] = []
    by_object: dict[int, list[Map]] = {}
    for i, obj in enumerate(prepared.objects):
        created = [session.create_map_from(_renamed(m, names[(i, j)])) for j, m in enumerate(obj.maps)]
        by_object[id(obj)] = created
        maps += [SessionMap(m, obj, d) for m, d in zip(created, obj.maps)]
    info = {sm.map.name: {"object": str(Path(sm.obj.path).resolve()), "map": sm.definition.name}
            for sm in maps}
    _add(session, ObjectKind.BLOB, MAP_INFO_OBJECT, map_info_blob(info))

    image_offsets = []
    for k, prog in enumerate(prepared.programs):
        slots = _slots(session, prog, by_object[id(prog.obj)])
        head_len = records.IMAGE.size + records.SLOT.size * len(slots)
        code_at = _align(head_len, CODE_ALIGN)
        code = prog.image.code.ljust(prog.image.slots_offset, b"\xcc") + bytes(8 * len(slots))
        offset = session.add_object(ObjectKind.IMAGE, f"image:{k}", code_at + len(code))
        head = records.image_record(prog.name, code, prog.image.slots_offset,
                                    prog.image.entry_offset, slots, offset + code_at)
        _write(session, offset, head)
        _write(session, offset + code_at, code)
        image_offsets.append(offset)

    if prepared.tails:
        tails = [(by_object[id(t.obj)][t.map_index].handle - session.base, t.slot, t.program)
                 for t in prepared.tails]
        _add(session, ObjectKind.BLOB, records.TAILS_OBJECT, records.tails_record(tails))

    plan_offsets = []
    for k, hook in enumerate(prepared.hooks):
        plan = hook.plan.to_bytes()
        head_len = records.PLAN.size + records.ATTACH.size * len(hook.programs)
        plan_at = _align(head_len, 8)
        offset = session.add_object(ObjectKind.HOOK_PLAN, f"hook:{k}", plan_at + len(plan))
        _write(session, offset, records.plan_record(plan, offset + plan_at, hook.plan.module,
                                                    hook.plan.vaddr, hook.programs))
        _write(session, offset + plan_at, plan)
        plan_offsets.append(offset)

    arrays = 8 * (len(image_offsets) + len(plan_offsets))
    load_offset = session.add_object(ObjectKind.BLOB, records.LOAD_OBJECT, records.LOAD_SIZE + arrays)
    images_at = load_offset + records.LOAD_SIZE
    plans_at = images_at + 8 * len(image_offsets)
    table = records.load_table(len(image_offsets), len(plan_offsets), images_at, plans_at)
    offsets = b"".join(o.to_bytes(8, "little") for o in image_offsets + plan_offsets)
    _write(session, load_offset, table + offsets)
    return LoadSession(session, maps, load_offset)


def _renamed(definition: MapDef, name: str) -> MapDef:
    if definition.name == name:
        return definition
    from dataclasses import replace

    return replace(definition, name=name)
