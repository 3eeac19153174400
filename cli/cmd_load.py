"""`bpftime load TARGET [options] -- PROGRAM ARGS…`: start a program with extensions."""
from __future__ import annotations

from pathlib import Path

import click

ATTACH_METAVAR = "PROG=uprobe:BINARY:FUNC[+OFF]"
ATTACH_HELP = ("Attach PROG here instead of at its section's place; repeatable. Forms: "
               "PROG=uprobe:BINARY:FUNC (entry), PROG=uprobe:BINARY:FUNC+OFF (OFF bytes in), "
               "PROG=uprobe:BINARY:0xADDR (an address as objdump shows it, for a binary without "
               "symbols), PROG=uretprobe:BINARY:FUNC (return). BINARY is a path, a library "
               "(libc.so.6) or its name's prefix (libc).")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("target", type=click.Path(path_type=Path))
@click.argument("command", nargs=-1, required=True, metavar="-- PROGRAM [ARGS]...")
@click.option("--prog", "progs", multiple=True, metavar="NAME",
              help="Load only this program (or EIM extension); repeatable.")
@click.option("--attach", "attach", multiple=True, metavar=ATTACH_METAVAR, help=ATTACH_HELP)
@click.option("--dump-maps", type=click.Path(dir_okay=False, path_type=Path),
              help="When the host exits, write every map as JSON to this file.")
@click.option("--event-type", metavar="STRUCT",
              help="Decode ring buffer and perf event records as this struct of the object's BTF.")
@click.option("--stats", is_flag=True, help="Print the agent's start-up report to stderr.")
def load(target: Path, command: tuple[str, ...], progs: tuple[str, ...], attach: tuple[str, ...],
         dump_maps: Path | None, event_type: str | None, stats: bool) -> int:
    """Verify and compile the extensions of TARGET (a BPF object or an EIM deployment .yaml),
    start PROGRAM with them installed, print their output while it runs, and exit with
    its status."""
    from bpftime.inject.launch import LaunchOptions, launch
    from bpftime.inject.prepare import LoadRequest
    from bpftime.inject.host import resolve_program

    host = resolve_program(command[0])
    request = LoadRequest(target, host, progs, attach, event_type)
    return launch(request, list(command[1:]), LaunchOptions(dump_maps=dump_maps, stats=stats))
