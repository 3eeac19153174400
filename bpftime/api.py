"""The Python API of bpftime: what the commands do, as functions and objects.

    run(path, mem=None, engine="jit", prog=None) -> RunResult        bpftime run
    verify(target, cls="default") -> list[Verdict]                   bpftime verify
    inspect(obj) -> dict;  disassemble(path, prog=None) -> str        bpftime inspect --json / disasm
    load(target, argv, progs=, attach=, event_type=) -> LoadedHost    bpftime load
    attach(pid, target, progs=, attach=, event_type=) -> Attachment   bpftime attach
    detach(pid_or_session) -> list[Detached]                          bpftime detach
    sessions() -> list[SessionInfo]                                   bpftime list --json
    open_session(name_or_pid=None) -> LiveSession                     bpftime maps

A thin facade: every function calls the modules the commands use (bpftime.runner,
bpftime.inject, bpftime.verification, bpftime.listing, bpftime.elf.describe), so the
API and the commands cannot
disagree. Errors are `bpftime.errors.BpftimeError` subclasses, as on the command line
(`exit_code` 2 for malformed input or something that does not exist, 1 for a refusal).
Everything heavy is imported on first use: importing this module costs nothing more
than the standard library. Documented in docs/python-api.md.
"""
from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bpftime.inject.attach import Attachment as _Attached
    from bpftime.inject.attach_detach import Detached
    from bpftime.inject.attach_list import SessionRow
    from bpftime.inject.attach_records import AttachRecord
    from bpftime.inject.events import EventType
    from bpftime.inject.host import Host
    from bpftime.inject.mapview import MapView
    from bpftime.inject.records import Status
    from bpftime.inject.session_build import LoadSession
    from bpftime.runtime import Map, Session

    SessionInfo = SessionRow

POLL_SECONDS = 0.02   # as `bpftime load` and `attach` poll their rings
AGENT_TIMEOUT = 10.0

__all__ = ["Attachment", "Event", "LiveSession", "LoadedHost", "MapReader", "RunResult", "Verdict",
           "attach", "detach", "disassemble", "inspect", "load", "open_session", "run", "sessions",
           "verify"]


# ---------------------------------------------------------------- run, verify, inspect

@dataclass(frozen=True)
class RunResult:
    """r0 of the run (unsigned 64-bit), the instructions it executed, every map after
    it ({NAME: [{"key": K, "value": V}, …]}, decoded through BTF), and a conformance
    file's expected result (None for other programs)."""

    result: int
    instructions: int | None
    maps: dict[str, list[dict[str, Any]]]
    expected: int | None = None


def run(path: str | Path, mem: bytes | None = None, engine: str = "jit",
        prog: str | None = None) -> RunResult:
    """Verify and run a program (an object, an assembly or a conformance `.data` file)
    once in this process, as `bpftime run` does; `mem` is its input (default: none, or
    a `.data` file's own). Raises VerifyError for a rejected program."""
    from bpftime.runner import execute, load_runnable

    runnable = load_runnable(path, prog, mem)
    out = execute(runnable, engine, 1, dump_maps=True, count=True)
    return RunResult(out.result, out.instructions, (out.maps or {}).get("maps", {}), runnable.expected)


@dataclass(frozen=True)
class Verdict:
    """One extension (or program) proved or refused under its class. `message` is the
    line `bpftime verify` prints; `error` the rejection (None when accepted)."""

    name: str
    class_name: str
    program: str
    accepted: bool
    processed: int | None          # instructions the verifier walked
    max_instructions: int | None   # proven bound on instructions per invocation
    memory: int | None             # bytes: maps + stack
    message: str
    error: str | None = None


def verify(target: str | Path, cls: str = "default") -> list[Verdict]:
    """The verdicts `bpftime verify TARGET` prints: each extension of a deployment
    spec under its class, each program of an object under `cls`, or an assembly /
    `.data` file in `bpftime run`'s context. A rejection is a verdict, never an
    exception; malformed input raises LoadError. A development-time spec is resolved
    against its host (raising if it does not match) and has no verdicts."""
    from bpftime.verification import check

    path = Path(target)
    kind, verdicts = check(path, cls)
    if kind == "development":
        from bpftime.eim import load_development

        load_development(path)
    return [Verdict(v.extension, v.class_name, v.program, v.error is None,
                    v.result.processed if v.result else None,
                    v.result.max_instructions if v.result else None,
                    v.result.memory if v.result else None, v.line(), v.error) for v in verdicts]


def inspect(obj: str | Path) -> dict[str, Any]:
    """What `bpftime inspect OBJ --json` prints: programs, maps, globals, externs, BTF."""
    from bpftime.elf import load_object
    from bpftime.elf.describe import describe

    return describe(load_object(Path(obj)))


def disassemble(path: str | Path, prog: str | None = None, source: bool = True) -> str:
    """What `bpftime disasm PATH [--prog NAME]` prints (`source=False`: --no-source)."""
    from bpftime.listing import disassembly

    return disassembly(Path(path), prog, source)


# ---------------------------------------------------------------- maps and events

class MapReader(Mapping):
    """A map of a live session, read-only and dict-like: keys and values decoded
    through the BTF of the object that declared it (hex strings without BTF). Every
    access reads the map anew. `raw` is the runtime's Map (lookup/update on bytes)."""

    def __init__(self, view: "MapView"):
        self._view = view

    @property
    def name(self) -> str:
        return self._view.map.name

    @property
    def type(self) -> str:
        return str(self._view.map.type)

    @property
    def raw(self) -> "Map":
        return self._view.map

    def entries(self, consume: bool = False) -> list[dict[str, Any]]:
        """[{"key": K, "value": V}, …]; queues and stacks only with `consume` (which
        pops their values)."""
        return self._view.entries(consume)

    def __getitem__(self, key: Any) -> Any:
        for e in self.entries():
            if e["key"] == key:
                return e["value"]
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        return iter([e["key"] for e in self.entries()])

    def __len__(self) -> int:
        return len(self.entries())

    def __repr__(self) -> str:
        return f"<MapReader {self.name} ({self.type}): {len(self)} entries>"


def _maps(session: "Session") -> dict[str, MapReader]:
    """The session's maps as `bpftime maps` shows them (read-only data left out)."""
    from bpftime.inject.mapview import session_views

    return {v.map.name: MapReader(v) for v in session_views(session)}


@dataclass(frozen=True)
class Event:
    """Something an extension sent: a bpf_printk line (kind "trace", `text`), or a
    ring buffer / perf event record (kind "ringbuf" / "perf", raw `data`, `value`
    decoded through BTF when an event type was given, `cpu` for perf)."""

    kind: str
    map: str | None = None
    data: bytes | None = None
    value: Any = None
    text: str | None = None
    cpu: int | None = None


class _Events:
    """Reads one session's rings (the readers `bpftime load` pumps)."""

    def __init__(self, live: "LoadSession", event_type: "EventType | None"):
        import io

        from bpftime.inject.launch import EventPump, LaunchOptions

        self.live = live
        self.event_type = event_type
        sink = LaunchOptions(out=io.StringIO(), err=io.StringIO())
        self.readers = EventPump(live, event_type, sink).readers

    def poll(self) -> list[Event]:
        from bpftime.inject.events import format_record

        out = [Event("trace", text=line) for line in self.live.session.trace_lines()]
        for name, reader in self.readers:
            for rec in reader.poll():
                cpu, data = rec if isinstance(rec, tuple) else (None, rec)
                value = json.loads(format_record(name, data, self.event_type)).get("event")
                out.append(Event("perf" if cpu is not None else "ringbuf", name, data, value, cpu=cpu))
        return out


def _stream(events: _Events, done, sleep, timeout: float | None) -> Iterator[Event]:
    """Events as they come until `done()` (then the last ones) or `timeout` seconds;
    `sleep(seconds)` waits between polls."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        finished = done()
        yield from events.poll()
        if finished:
            return
        left = POLL_SECONDS if deadline is None else deadline - time.monotonic()
        if left <= 0:
            return
        sleep(min(POLL_SECONDS, left))


# ---------------------------------------------------------------- load

class LoadedHost:
    """A host started by `load` with the extensions installed, running in the
    background. Use it as a context manager: on exit the host is killed if it still
    runs and the session is removed.

    As in `bpftime load`, the thread that called `load` holds SIGINT, SIGTERM, SIGHUP,
    SIGQUIT and SIGCHLD blocked until the host is finished; `wait` and `events` hand
    those signals on to the host. Call them from that thread."""

    def __init__(self, live: "LoadSession", host: "Host", event_type: "EventType | None"):
        self._live = live
        self._host = host
        self._events = _Events(live, event_type)
        self._closed = False

    @property
    def pid(self) -> int:
        return self._host.pid

    @property
    def session(self) -> str:
        return self._live.session.name

    @property
    def returncode(self) -> int | None:
        """The host's exit status once it has ended (128 + N: killed by signal N)."""
        return self._host.wait(0)

    @property
    def maps(self) -> dict[str, MapReader]:
        """Map name -> its live reader; still readable after the host has exited,
        until the context exits."""
        return _maps(self._live.session)

    def status(self) -> "Status":
        """What the agent in the host reported (state, pid, hooks, images, message)."""
        return self._live.status()

    def wait(self, timeout: float | None = None) -> int:
        """The host's exit status once it ends; TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (status := self._host.wait(POLL_SECONDS)) is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"process {self.pid} still runs after {timeout:g} s")
        return status

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events as the extensions send them, until the host ends (and its last
        events are read) or `timeout` seconds pass (0: only those waiting now)."""
        return _stream(self._events, lambda: self._host.wait(0) is not None,
                       self._host.wait, timeout)

    def close(self) -> None:
        """Kill the host if it still runs, then remove the session."""
        if self._closed:
            return
        self._closed = True
        try:
            self._host.finish()
        finally:
            self._live.destroy()

    def __enter__(self) -> "LoadedHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load(target: str | Path, argv: list[str] | tuple[str, ...], *, progs: Iterable[str] = (),
         attach: Iterable[str] = (), event_type: str | None = None) -> LoadedHost:
    """Start `argv` (a program path or name and its arguments) with the extensions of
    TARGET (a BPF object or a deployment spec) installed, as `bpftime load TARGET
    [--prog P] [--attach PROG=uprobe:BIN:FUNC] [--event-type S] -- ARGV` does; returns
    at once. Verification and planning errors raise before the host starts."""
    from bpftime.inject.host import resolve_program
    from bpftime.inject.launch import start
    from bpftime.inject.prepare import LoadRequest, prepare

    if not argv:
        raise ValueError("load: argv names no program")
    request = LoadRequest(Path(target), resolve_program(str(argv[0])), tuple(progs), tuple(attach),
                          event_type)
    prepared = prepare(request)
    live, host = start(prepared, [str(a) for a in argv[1:]])
    try:
        return LoadedHost(live, host, prepared.event_type)
    except BaseException:
        try:
            host.finish()
        finally:
            live.destroy()
        raise


# ---------------------------------------------------------------- attach, detach, sessions

class Attachment:
    """Extensions installed in a running process by `attach`. As a context manager
    it detaches (restoring every patched byte) and removes the session on exit."""

    def __init__(self, attached: "_Attached", event_type: "EventType | None"):
        self._att = attached
        self._events = _Events(attached.live, event_type)
        self._closed = False

    @property
    def pid(self) -> int:
        return self._att.target.pid

    @property
    def session(self) -> str:
        return self._att.live.session.name

    @property
    def maps(self) -> dict[str, MapReader]:
        return _maps(self._att.live.session)

    def hits(self) -> list[int]:
        """Hits of each (entry, extension) pair so far, in `sessions()` order."""
        return self._att.hits()

    def attached(self) -> bool:
        """The extensions are still installed (not detached, the process still runs)."""
        from bpftime.inject.attach_records import AttachState

        return self._att.record().state == AttachState.ATTACHED and self._att.target.alive()

    def events(self, timeout: float | None = None) -> Iterator[Event]:
        """Events as the extensions send them, until they are detached or the process
        ends, or `timeout` seconds pass (0: only those waiting now)."""
        return _stream(self._events, lambda: not self.attached(), time.sleep, timeout)

    def detach(self, timeout: float = AGENT_TIMEOUT) -> "AttachRecord":
        """Take the extensions out (nothing to do once detached or the process ended);
        the agent's final report. The maps stay readable until `close`."""
        return self._att.detach(timeout)

    def close(self) -> None:
        """Detach if still attached, then remove the session."""
        if self._closed:
            return
        self._closed = True
        try:
            self._att.detach()
        finally:
            self._att.close()

    def __enter__(self) -> "Attachment":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def attach(pid: int, target: str | Path, *, progs: Iterable[str] = (), attach: Iterable[str] = (),
           event_type: str | None = None, timeout: float = AGENT_TIMEOUT) -> Attachment:
    """Install the extensions of TARGET in running process `pid` (Frida), as `bpftime
    attach PID TARGET [--prog P] [--attach …] [--event-type S]` does; returns once the
    agent reports them installed. Raises (nothing left patched) when that fails."""
    from bpftime.inject.attach import attach_prepared, attach_request
    from bpftime.inject.prepare import prepare

    proc, request = attach_request(pid, Path(target), tuple(progs), tuple(attach), event_type)
    prepared = prepare(request, pid)
    attached = attach_prepared(proc, prepared, timeout)
    try:
        return Attachment(attached, prepared.event_type)
    except BaseException:
        try:
            attached.detach()
        finally:
            attached.close()
        raise


def detach(which: int | str, timeout: float = AGENT_TIMEOUT) -> list["Detached"]:
    """`bpftime detach PID|SESSION`: every session attached to process `which` (or
    the session it names) taken out; the agents' reports. AttachError / NotFound when
    there is nothing to detach."""
    from bpftime.inject.attach_detach import detach as detach_sessions

    return detach_sessions(str(which), timeout)


def sessions() -> list["SessionRow"]:
    """Every bpftime session on the machine, as `bpftime list --json` shows them
    (dataclasses.asdict of each is that JSON): kind, process, state, extensions, hits."""
    from bpftime.inject.attach_list import list_sessions

    return list_sessions()


class LiveSession:
    """A live session opened from outside (`bpftime maps`): its maps; `close` (or the
    context's exit) releases it without touching the session itself."""

    def __init__(self, session: "Session"):
        self._session = session

    @property
    def name(self) -> str:
        return self._session.name

    @property
    def maps(self) -> dict[str, MapReader]:
        return _maps(self._session)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> "LiveSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(which: int | str | None = None) -> LiveSession:
    """The session `which` names (a session name; or a pid: of the command that made
    it or of the process it extends), or the only live one when None."""
    from bpftime.inject.sessions import pick_session

    return LiveSession(pick_session(None if which is None else str(which)))


def __getattr__(name: str) -> Any:
    if name == "SessionInfo":   # what sessions() returns, imported when asked for
        from bpftime.inject.attach_list import SessionRow

        return SessionRow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
