"""`bpftime attach PID`: the load path (verify, compile, plan, session) against a
running process, the agent injected into it with Frida, events printed while it
runs, and a clean detach at the end (or when `bpftime detach` asks from elsewhere)."""
from __future__ import annotations

import ctypes
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bpftime.errors import AttachError
from bpftime.inject.attach_list import session_running_in
from bpftime.inject.attach_records import AttachRecord, AttachState, abandon, add_record
from bpftime.inject.frida_inject import ATTACH_ENTRY, DETACH_ENTRY, Target, check_target, inject
from bpftime.inject.launch import LaunchOptions
from bpftime.inject.prepare import LoadRequest, Prepared, prepare
from bpftime.inject.session_build import LoadSession, build_session
from bpftime.runtime import Session, library_path
from bpftime.runtime.session import SHM_DIR

POLL_SECONDS = 0.02
AGENT_TIMEOUT = 10.0   # for the agent to report after an injection
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class AttachOptions(LaunchOptions):
    """`bpftime load`'s options (`stats`: the agent's attach and detach reports) and
    when to detach by itself."""

    detach_after: float | None = None   # seconds; None: until a signal or `bpftime detach`


def attach_request(pid: int, target: Path, progs: tuple[str, ...] = (), attach: tuple[str, ...] = (),
                   event_type: str | None = None) -> tuple[Target, LoadRequest]:
    """The process `pid` (checked: it can be injected into) and the load request
    for TARGET against its executable."""
    proc = check_target(pid)
    return proc, LoadRequest(target, proc.exe, progs, attach, event_type)


def _wait(target: Target, done: Callable[[], bool], what: str, timeout: float = AGENT_TIMEOUT) -> None:
    """Poll `done` until it holds; AttachError if the process ends or time runs out."""
    deadline = time.monotonic() + timeout
    while not done():
        if not target.alive():
            raise AttachError(f"process {target.pid}: it exited during {what}")
        if time.monotonic() > deadline:
            raise AttachError(f"process {target.pid}: the agent did not report {what} within "
                              f"{timeout:g} s")
        time.sleep(0.002)


@dataclass
class Attachment:
    """A session attached to a running process; `detach()` takes it out again,
    `close()` removes the session."""

    target: Target
    live: LoadSession
    record_offset: int
    started: float              # time.monotonic() when the attach began
    attached: float = 0.0       # … when the agent reported its hooks installed

    def record(self) -> AttachRecord:
        return AttachRecord.read(self.live.session, self.record_offset)

    def hits(self) -> list[int]:
        """Hits of each (entry, extension) pair so far, in plan order."""
        return self.record().hits(self.live.session)

    def detach(self, timeout: float = AGENT_TIMEOUT) -> AttachRecord:
        """Restore every patched byte in the process (nothing to do once it has
        exited or another command detached it): the agent's final report."""
        record = self.record()
        if record.state == AttachState.ATTACHED and self.target.alive():
            record = detach_session(self.target, self.live.session, self.record_offset, timeout)
        return record

    def close(self) -> None:
        self.live.destroy()


# struct bpftime_session_header (bpftime/native/session.h): creator_pid, creator_start
CREATOR_PID_OFFSET = 24
CREATOR_START_OFFSET = 32


def _tie_to(target: Target, session: Session) -> None:
    """Make the session live exactly as long as the process it extends: stale
    cleaning (a later `bpftime load`) must not remove it while its extensions run
    there, even once this command is gone (killed: `bpftime detach` still finds it)."""
    ctypes.c_int32.from_address(session.address(CREATOR_PID_OFFSET)).value = target.pid
    ctypes.c_uint64.from_address(session.address(CREATOR_START_OFFSET)).value = target.start
    session.creator_pid, session.creator_start = target.pid, target.start


def _share_with(target: Target, session: Session) -> None:
    """Let the target's user open the session (it is created 0600 for ours)."""
    if target.uid != os.geteuid():
        os.chown(SHM_DIR / session.name.lstrip("/"), target.uid, target.gid)


def attach_prepared(target: Target, prepared: Prepared, timeout: float = AGENT_TIMEOUT,
                    stop: "StopSignals | None" = None) -> Attachment:
    """A session for `prepared`, its agent injected into `target` and its hooks in
    place. AttachError (and nothing left patched or behind) when that fails, or
    when `stop` caught a signal before the injection."""
    started = time.monotonic()
    taken = session_running_in(target.pid)
    if taken is not None:
        hint = (f"bpftime detach {target.pid} first" if taken.kind == "attach" else
                "it was started by bpftime load; its extensions end with it")
        raise AttachError(f"process {target.pid} already runs the extensions of session "
                          f"{taken.name} ({taken.kind}): {hint}")
    live = build_session(prepared)
    try:
        n_hits = sum(len(h.programs) for h in prepared.hooks)
        offset = add_record(live.session, n_hits)
        _share_with(target, live.session)
        _tie_to(target, live.session)
        att = Attachment(target, live, offset, started)
        if stop is not None and stop.received is not None:
            raise AttachError(f"{signal.Signals(stop.received).name} before attaching to process "
                              f"{target.pid}: nothing was patched")
        _call_agent(target, ATTACH_ENTRY, live.session)
        try:
            _wait(target, lambda: att.record().state != AttachState.PENDING, "the attach", timeout)
        except AttachError:
            if target.alive():
                _give_up(target, live.session, offset)
            raise
        record = att.record()
        if record.state != AttachState.ATTACHED:
            raise AttachError(f"process {target.pid}: {record.message}; nothing was patched")
        att.attached = time.monotonic()
        return att
    except BaseException:
        live.destroy()
        raise


def _call_agent(target: Target, entrypoint: str, session: Session) -> None:
    """Inject the agent into `target` (once) and start `entrypoint` there on `session`."""
    library = library_path()
    inject(target, library, entrypoint, f"{session.name} {library}")


def _give_up(target: Target, session: Session, offset: int) -> None:
    """An agent that did not report in time: mark the record so that it will not
    install, and take out what it may have installed meanwhile."""
    given_up = "given up by the attach command"
    abandon(session, offset, given_up)
    _call_agent(target, DETACH_ENTRY, session)
    def settled() -> bool:   # the detach ran (an install racing the mark is undone by it)
        record = AttachRecord.read(session, offset)
        return record.message != given_up and record.state != AttachState.ATTACHED

    try:
        _wait(target, settled, "the detach", AGENT_TIMEOUT)
    except AttachError:
        pass   # the process ended, or its agent never runs: nothing is installed either way


def attach(pid: int, target: Path, progs: tuple[str, ...] = (), attach: tuple[str, ...] = (),
           timeout: float = AGENT_TIMEOUT) -> Attachment:
    """Python API: TARGET's extensions (an object or a deployment spec; `progs` and
    `attach` as on the command line) installed in running process `pid`. Use
    `hits()`, `live.maps`, then `detach()` and `close()`."""
    proc, request = attach_request(pid, target, progs, attach)
    return attach_prepared(proc, prepare(request, pid), timeout)


def detach_session(target: Target, session: Session, offset: int,
                   timeout: float = AGENT_TIMEOUT) -> AttachRecord:
    """Ask the agent in `target` to take `session`'s hooks out; its report. A
    process that exits meanwhile has nothing left to restore."""
    _call_agent(target, DETACH_ENTRY, session)

    def reported() -> bool:
        return AttachRecord.read(session, offset).state != AttachState.ATTACHED

    try:
        _wait(target, reported, "the detach", timeout)
    except AttachError:
        if target.alive():
            raise
    record = AttachRecord.read(session, offset)
    if record.state == AttachState.FAILED:
        raise AttachError(f"process {target.pid}: detach: {record.message}")
    return record


class StopSignals:
    """SIGINT, SIGTERM and SIGHUP noted instead of ending the command (whichever
    thread the kernel hands them to, Python runs the handler in the main one).
    Taken before anything is attached, so that no signal can end the command
    between patching and the foreground loop, leaving the process patched."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous = {s: signal.signal(s, self._note) for s in STOP_SIGNALS}

    def _note(self, signo: int, frame: object) -> None:
        self.received = signo

    def restore(self) -> None:
        for s, handler in self.previous.items():
            signal.signal(s, handler)


def run_attached(att: Attachment, event_type, opts: AttachOptions, stop: StopSignals) -> int:
    """The foreground of `bpftime attach`: print what the extensions send until a
    signal, --detach-after, `bpftime detach` or the end of the process; detach;
    show the maps. 0 once every patched byte is restored (or the process ended)."""
    from bpftime.inject.launch import EventPump, report_maps

    pump = EventPump(att.live, event_type, opts)
    pid = att.target.pid
    opts.err.write(f"bpftime: attached to process {pid} ({att.target.exe.name}): "
                   f"{att.record().message} in {(att.attached - att.started) * 1e3:.0f} ms; "
                   f"Ctrl-C or bpftime detach {pid} detaches\n")
    opts.err.flush()
    deadline = None if opts.detach_after is None else time.monotonic() + opts.detach_after
    why = None
    while why is None:
        time.sleep(POLL_SECONDS)
        pump.pump()
        if stop.received is not None:
            why = signal.Signals(stop.received).name
        elif deadline is not None and time.monotonic() >= deadline:
            why = f"--detach-after {opts.detach_after:g}"
        elif not att.target.alive():
            why = "exited"
        elif att.record().state != AttachState.ATTACHED:
            why = "detached"
    code = 0
    if why == "exited":
        opts.err.write(f"bpftime: process {pid} exited; its extensions ended with it\n")
    elif why == "detached":
        opts.err.write(f"bpftime: process {pid}: detached by another command "
                       f"({att.record().message})\n")
    else:
        try:
            record = att.detach()
            opts.err.write(f"bpftime: detached from process {pid} ({why}): {record.message}, "
                           f"every patched byte restored\n")
        except AttachError as err:
            opts.err.write(f"bpftime: error: {err}\n")
            code = 1
    pump.pump()
    for problem in pump.finish():
        opts.err.write(f"bpftime: warning: {problem}\n")
    opts.err.flush()
    report_maps(att.live, opts)
    return code
