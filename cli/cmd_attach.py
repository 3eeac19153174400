"""`bpftime attach PID TARGET [options]`: extend a process that is already running."""
from __future__ import annotations

from pathlib import Path

import click

from cli.cmd_load import ATTACH_HELP, ATTACH_METAVAR


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("pid", type=int)
@click.argument("target", type=click.Path(path_type=Path))
@click.option("--prog", "progs", multiple=True, metavar="NAME",
              help="Attach only this program (or EIM extension); repeatable.")
@click.option("--attach", "attach", multiple=True, metavar=ATTACH_METAVAR, help=ATTACH_HELP)
@click.option("--detach-after", type=float, metavar="SECONDS",
              help="Detach by itself after this many seconds.")
@click.option("--dump-maps", type=click.Path(dir_okay=False, path_type=Path),
              help="After detaching, write every map as JSON to this file.")
@click.option("--event-type", metavar="STRUCT",
              help="Decode ring buffer and perf event records as this struct of the object's BTF.")
@click.option("--stats", is_flag=True, help="Print the agent's reports to stderr.")
def attach(pid: int, target: Path, progs: tuple[str, ...], attach: tuple[str, ...],
           detach_after: float | None, dump_maps: Path | None, event_type: str | None,
           stats: bool) -> int:
    """Verify and compile the extensions of TARGET (an object or an EIM deployment spec),
    install them in running process PID without stopping it, print their output, and
    detach cleanly on Ctrl-C, SIGTERM, --detach-after or `bpftime detach PID`."""
    from bpftime.inject.attach import (AttachOptions, StopSignals, attach_prepared, attach_request,
                                       run_attached)
    from bpftime.inject.prepare import prepare

    stop = StopSignals()   # from the start: no signal may leave the process patched
    try:
        proc, request = attach_request(pid, target, progs, attach, event_type)
        prepared = prepare(request, pid)
        att = attach_prepared(proc, prepared, stop=stop)
        try:
            return run_attached(att, prepared.event_type,
                                AttachOptions(dump_maps=dump_maps, stats=stats,
                                              detach_after=detach_after), stop)
        finally:
            try:
                att.detach()   # nothing to do unless the foreground loop failed
            finally:
                att.close()
    finally:
        stop.restore()
