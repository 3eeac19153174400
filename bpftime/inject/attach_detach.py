"""`bpftime detach PID|SESSION` from another terminal: the agent in the process
restores every byte the session patched; the foreground `bpftime attach` sees the
record change and ends by itself."""
from __future__ import annotations

from dataclasses import dataclass

from bpftime.inject.attach import AGENT_TIMEOUT, detach_session
from bpftime.errors import AttachError, NotFound
from bpftime.inject.attach_list import SessionRow, attached_sessions, describe, session_running_in
from bpftime.inject.attach_records import AttachRecord, find_record
from bpftime.inject.frida_inject import check_target, exists
from bpftime.runtime import Session


@dataclass(frozen=True)
class Detached:
    session: str
    pid: int
    record: AttachRecord


def _rows(which: str) -> list[SessionRow]:
    if which.isdigit():
        pid = int(which)
        rows = attached_sessions(pid)
        if rows:
            return rows
        running = session_running_in(pid)
        if running is not None:
            raise AttachError(f"process {pid} was started by bpftime load (session {running.name}): "
                              f"its extensions end with it; there is nothing to detach")
        if not exists(pid):
            raise NotFound(f"process {pid}: no such process")
        raise NotFound(f"process {pid} has no attached bpftime session (bpftime list shows them)")
    session = Session.open(which)
    try:
        row = describe(session)
    finally:
        session.close()
    if row.kind != "attach":
        raise AttachError(f"session {row.name} was made by bpftime load, not attach: its "
                          f"extensions end with process {row.pid}")
    if row.state != "attached":
        raise AttachError(f"session {row.name} is not attached ({row.state})")
    return [row]


def detach(which: str, timeout: float = AGENT_TIMEOUT) -> list[Detached]:
    """Detach the sessions `which` names (a pid: all attached to it; or a session
    name): the agents' reports. AttachError when there is nothing to detach or a
    patched byte could not be restored."""
    out = []
    for row in _rows(which):
        session = Session.open(row.name)
        try:
            record = find_record(session)
            target = check_target(row.pid)
            out.append(Detached(row.name, row.pid,
                                detach_session(target, session, record.offset, timeout)))
            if not row.creator_alive:   # its attach command is gone: nobody else removes it
                session.unlink()
        finally:
            session.close()
    return out
