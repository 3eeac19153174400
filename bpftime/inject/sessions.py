"""Finding the live session a command from another terminal means."""
from __future__ import annotations

from bpftime.errors import LoadError
from bpftime.runtime import Session
from bpftime.runtime.session import PREFIX, is_stale, session_names


def looks_like_session(text: str) -> bool:
    """A session name (`/bpftime-…` or `bpftime-…`) or a pid, rather than a map name."""
    return text.lstrip("/").startswith(PREFIX) or text.isdigit()


def live_sessions() -> list[str]:
    """Names of the sessions whose creator still runs."""
    names = []
    for name in session_names():
        try:
            session = Session.open(name)
        except LoadError:
            continue
        try:
            if not is_stale(session):
                names.append(name)
        finally:
            session.close()
    return names


def pick_session(which: str | None) -> Session:
    """Open the session `which` names (a name, or the pid of the process that created
    it), or the only live one when `which` is None."""
    if which is not None and not which.isdigit():
        return Session.open(which)
    live = live_sessions()
    if which is not None:
        live = [n for n in live if n.lstrip("/").removeprefix(PREFIX).split("-", 1)[0] == which]
        if not live:
            raise LoadError(f"no live bpftime session was created by process {which}")
    if not live:
        raise LoadError("no live bpftime session (start one with bpftime load)")
    if len(live) > 1:
        raise LoadError(f"{len(live)} live sessions, name one: {', '.join(live)}")
    return Session.open(live[0])
