"""What `bpftime list` shows: every session on the machine, the process its
extensions run in (a `load` host or an `attach`ed process), each extension at its
entry, and its hit count (counted for attached sessions)."""
from __future__ import annotations

import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path

from bpftime.errors import BpftimeError
from bpftime.inject import records
from bpftime.inject.attach_records import AttachRecord, find_record
from bpftime.inject.records import State
from bpftime.inject.sessions import named_pid
from bpftime.runtime import ObjectKind, Session
from bpftime.runtime.session import is_stale, session_names


@dataclass(frozen=True)
class ExtensionRow:
    name: str
    kind: str            # uprobe | uretprobe
    entry: str           # MODULE:SYMBOL[+OFF] or MODULE:0xVADDR
    hits: int | None     # None: not counted (a load session)


@dataclass
class SessionRow:
    name: str
    kind: str            # attach | load
    creator: int         # pid of the command that made it
    creator_alive: bool
    pid: int             # of the process the extensions run in (0: none yet)
    comm: str
    state: str
    extensions: list[ExtensionRow] = field(default_factory=list)


def _read(session: Session, offset: int, st) -> tuple:
    return st.unpack(ctypes.string_at(session.address(offset), st.size))


def _u64s(session: Session, offset: int, n: int) -> list[int]:
    return [int.from_bytes(ctypes.string_at(session.address(offset + 8 * i), 8), "little")
            for i in range(n)]


def _entry_name(module: str, vaddr: int) -> str:
    from bpftime.hook.elfinfo import open_elf

    base = os.path.basename(module)
    try:
        sym = open_elf(module).containing(vaddr)
    except (OSError, BpftimeError):
        sym = None
    if sym is None or sym.name is None:
        return f"{base}:{vaddr:#x}"
    return f"{base}:{sym.name}" + (f"+{vaddr - sym.vaddr:#x}" if vaddr != sym.vaddr else "")


def _extensions(session: Session, record: AttachRecord | None) -> list[ExtensionRow]:
    table = session.find_object(ObjectKind.BLOB, records.LOAD_OBJECT)
    if table is None:
        return []
    _, n_images, n_plans, _, images_at, plans_at = _read(session, table, records.LOAD)
    names = []
    for off in _u64s(session, images_at, n_images):
        name = _read(session, off, records.IMAGE)[5]
        names.append(name.split(b"\0", 1)[0].decode(errors="replace"))
    hits = record.hits(session) if record is not None else []
    rows, k = [], 0
    for off in _u64s(session, plans_at, n_plans):
        _, _, vaddr, module, n_programs, _ = _read(session, off, records.PLAN)
        entry = _entry_name(module.split(b"\0", 1)[0].decode(errors="replace"), vaddr)
        for j in range(n_programs):
            image, at_return = records.ATTACH.unpack(ctypes.string_at(
                session.address(off + records.PLAN.size + j * records.ATTACH.size), records.ATTACH.size))
            name = names[image] if image < len(names) else f"image {image}"
            rows.append(ExtensionRow(name, "uretprobe" if at_return else "uprobe", entry,
                                     hits[k] if k < len(hits) else None))
            k += 1
    return rows


def _comm(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return "(gone)"


def describe(session: Session) -> SessionRow:
    """One session as `bpftime list` shows it."""
    record = find_record(session)
    status = records.read_status(session)
    creator, creator_alive = session.creator_pid, not is_stale(session)
    if record is not None:
        kind, pid, state = "attach", record.pid, record.state.name.lower()
        # the session is tied to the process it extends; its name tells the command's pid
        creator = named_pid(session.name) or 0
        creator_alive = creator > 0 and Path(f"/proc/{creator}").exists()
    else:
        kind = "load"
        pid = status.pid if status is not None else 0
        state = status.state.name.lower() if status is not None else "no load table"
    return SessionRow(session.name, kind, creator, creator_alive, pid,
                      _comm(pid) if pid else "-", state, _extensions(session, record))


def list_sessions() -> list[SessionRow]:
    rows = []
    for name in session_names():
        try:
            session = Session.open(name)
        except BpftimeError:
            continue   # not a bpftime session, or removed meanwhile
        try:
            rows.append(describe(session))
        finally:
            session.close()
    return rows


def attached_sessions(pid: int) -> list[SessionRow]:
    """The attach sessions whose extensions are installed in process `pid`."""
    return [r for r in list_sessions() if r.kind == "attach" and r.pid == pid and r.state == "attached"]


def session_running_in(pid: int) -> SessionRow | None:
    """A session whose extensions run in `pid` now (attached, or its live load host)."""
    for row in list_sessions():
        if row.pid != pid:
            continue
        if row.kind == "attach" and row.state == "attached":
            return row
        if row.kind == "load" and row.state == State.INSTALLED.name.lower() and row.creator_alive:
            return row
    return None
