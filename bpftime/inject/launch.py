"""`bpftime load` from start to end: prepare (verify, compile, plan), build the
session, start the host with the agent preloaded, print what the extensions send
while it runs, then show or dump the maps, remove the session, and return the
host's exit status."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from bpftime.inject.events import EventType, format_record
from bpftime.inject.host import Host, preload_env
from bpftime.inject.mapview import MapView, read_only, to_json, to_text
from bpftime.inject.prepare import LoadRequest, Prepared, prepare
from bpftime.inject.records import State
from bpftime.inject.session_build import LoadSession, build_session
from bpftime.kernel_abi import MapType
from bpftime.runtime import PerfEventReader, RingBufferReader, clean_stale, library_path

POLL_SECONDS = 0.02


@dataclass
class LaunchOptions:
    dump_maps: Path | None = None
    stats: bool = False          # print the agent's report to `err`
    show_maps: bool = True       # print the maps to `out` when the host has exited
    out: TextIO = field(default_factory=lambda: sys.stdout)
    err: TextIO = field(default_factory=lambda: sys.stderr)


class EventPump:
    """Moves what the extensions sent (trace_printk lines, ring buffer and perf event
    records) from the session to the terminal, and watches the agent's status."""

    def __init__(self, live: LoadSession, event_type: EventType | None, opts: LaunchOptions):
        self.live = live
        self.event_type = event_type
        self.opts = opts
        self.readers: list[tuple[str, RingBufferReader | PerfEventReader]] = []
        for sm in live.maps:
            if sm.map.type == MapType.RINGBUF:
                self.readers.append((sm.map.name, RingBufferReader(sm.map)))
            elif sm.map.type == MapType.PERF_EVENT_ARRAY:
                self.readers.append((sm.map.name, PerfEventReader(sm.map)))
        self.reported = State.PENDING

    def pump(self) -> None:
        out = self.opts.out
        for line in self.live.session.trace_lines():
            out.write(line + "\n")
        for name, reader in self.readers:
            records = reader.poll()
            for rec in records:
                data = rec[1] if isinstance(rec, tuple) else rec
                out.write(format_record(name, data, self.event_type) + "\n")
        out.flush()
        self._watch_agent()

    def _watch_agent(self) -> None:
        status = self.live.status()
        if status.state == self.reported or status.state == State.STARTING:
            return
        self.reported = status.state
        if status.state == State.FAILED:
            self.opts.err.write(f"bpftime: error: agent in process {status.pid}: {status.message}; "
                                f"the host runs without extensions\n")
        elif self.opts.stats:
            self.opts.err.write(f"bpftime: agent in process {status.pid}: {status.message} "
                                f"in {status.startup_ns / 1e6:.3f} ms\n")
        self.opts.err.flush()

    def finish(self) -> list[str]:
        """Last drain; the problems to report once the host has ended."""
        self.pump()
        problems = []
        if self.reported == State.PENDING:
            problems.append("the agent never started in the host (statically linked, or "
                            "LD_PRELOAD ignored?): no extension ran")
        for name, reader in self.readers:
            lost = reader.dropped if isinstance(reader, RingBufferReader) else reader.lost
            if lost:
                problems.append(f"map {name}: {lost} records dropped (the ring was full)")
        trace = self.live.session.trace_ring
        dropped = RingBufferReader(trace).dropped if trace is not None else 0
        if dropped:
            problems.append(f"{dropped} bpf_trace_printk lines dropped (the trace ring was full)")
        return problems


def launch(req: LoadRequest, args: list[str], opts: LaunchOptions) -> int:
    """Run the host with the extensions of `req`; its exit status. Errors before the
    host starts raise (and nothing is left behind); the host never starts with a
    session that is not complete."""
    prepared = prepare(req)
    live, host = start(prepared, args)
    try:
        try:
            pump = EventPump(live, prepared.event_type, opts)
            status = None
            while status is None:
                status = host.wait(POLL_SECONDS)
                pump.pump()
        finally:
            host.finish()
        for problem in pump.finish():
            opts.err.write(f"bpftime: warning: {problem}\n")
        report_maps(live, opts)
        return host.status if host.status is not None else 1
    finally:
        live.destroy()


def start(prepared: Prepared, args: list[str]) -> tuple[LoadSession, Host]:
    """The session of `prepared` and its host started on it (see Host.start for the
    signal mask); the caller finishes the host, then destroys the session. Nothing is
    left behind when it raises. Shared by launch and `bpftime.api.load`."""
    clean_stale()  # sessions of a `bpftime load` that was killed
    live = build_session(prepared)
    try:
        env = preload_env(Path(library_path()), live.session.name)
        return live, Host.start(prepared.host, args, env)
    except BaseException:
        live.destroy()
        raise


def report_maps(live: LoadSession, opts: LaunchOptions) -> None:
    """Once the extensions have stopped: every map but read-only data dumped to
    `opts.dump_maps` as JSON and shown on `opts.out` (when `opts.show_maps`). Shared
    by load and attach."""
    views = [MapView(sm.map, sm.definition, sm.obj.btf) for sm in live.maps if not read_only(sm.map)]
    if opts.dump_maps is not None:   # the host is gone: queues and stacks may be emptied
        opts.dump_maps.write_text(json.dumps(to_json(views, consume=True), indent=1) + "\n")
    if opts.show_maps and views:
        opts.out.write(to_text(views) + "\n")
        opts.out.flush()
