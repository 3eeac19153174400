"""Finding the live session a command from another terminal means."""
from __future__ import annotations

from bpftime.errors import LoadError
from bpftime.inject.records import State, read_status
from bpftime.runtime import Session
from bpftime.runtime.session import PREFIX, session_states


def looks_like_session(text: str) -> bool:
    """A session name (`/bpftime-…` or `bpftime-…`) or a pid, rather than a map name."""
    return text.lstrip("/").startswith(PREFIX) or text.isdigit()


def live_sessions() -> list[str]:
    """Names of the sessions whose creator still runs."""
    return [name for name, stale in session_states() if not stale]


def extended_pid(session: Session) -> int | None:
    """The pid of the process whose agent took up the session's load, if any."""
    status = read_status(session)
    return status.pid if status is not None and status.state != State.PENDING else None


def named_pid(name: str) -> int | None:
    """The pid a session's name carries (`/bpftime-PID-…`): of the command that created it."""
    head = name.lstrip("/").removeprefix(PREFIX).split("-", 1)[0]
    return int(head) if head.isdigit() else None


def _made_or_extended_by(name: str, pid: int) -> bool:
    if named_pid(name) == pid:
        return True
    try:
        session = Session.open(name)
    except LoadError:
        return False
    try:
        return extended_pid(session) == pid
    finally:
        session.close()


def pick_session(which: str | None) -> Session:
    """Open the session `which` names (a name; or a pid: of the command that created
    it, or of the host it extends), or the only live one when `which` is None."""
    if which is not None and not which.isdigit():
        return Session.open(which)
    live = live_sessions()
    if which is not None:
        live = [n for n in live if _made_or_extended_by(n, int(which))]
        if not live:
            raise LoadError(f"no live bpftime session was created by process {which} "
                            f"or extends it")
    if not live:
        raise LoadError("no live bpftime session (start one with bpftime load)")
    if len(live) > 1:
        raise LoadError(f"{len(live)} live sessions, name one: {', '.join(live)}")
    return Session.open(live[0])
