"""`bpftime run PROGRAM`: run an eBPF program and print r0."""
from __future__ import annotations

import json
from pathlib import Path

import click

from bpftime.errors import LoadError
from bpftime.runner import ENGINES


def parse_hex(text: str, what: str) -> bytes:
    """Hex bytes, whitespace allowed ("1a 2b", "1a2b"); LoadError naming `what`."""
    digits = "".join(text.split())
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise LoadError(f"{what}: not hex bytes: {text[:40]!r}") from None


@click.command()
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--mem", "mem_hex", metavar="HEX", help="Input bytes in hex (r1 points to them, r2 is their length).")
@click.option("--mem-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Input bytes from a file.")
@click.option("--engine", type=click.Choice(sorted(ENGINES)), default="jit", show_default=True,
              help="Execution engine.")
@click.option("--prog", metavar="NAME", help="Program of an ELF object to run.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"result": R, "instructions": N} (N is null when the jit times --repeat runs).')
@click.option("--repeat", default=1, show_default=True, type=click.IntRange(min=1),
              help="Run N times (reports the time per run with --json).")
@click.option("--dump-maps", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help='After the run, write every map to FILE as JSON {"maps": {NAME: [{"key": K, "value": V}]}}.')
def run(program: Path, mem_hex: str | None, mem_file: Path | None, engine: str,
        prog: str | None, as_json: bool, repeat: int, dump_maps: Path | None) -> int:
    """Run PROGRAM (ELF object, .asm/.s assembly or conformance .data file); print r0."""
    from bpftime.runner import execute, load_runnable

    if mem_hex is not None and mem_file is not None:
        raise click.UsageError("give either --mem or --mem-file, not both")
    mem = parse_hex(mem_hex, "--mem") if mem_hex is not None else None
    if mem_file is not None:
        mem = mem_file.read_bytes()
    result = execute(load_runnable(program, prog, mem), engine, repeat, dump_maps is not None, count=as_json)
    if dump_maps is not None:
        dump_maps.write_text(json.dumps(result.maps, indent=1) + "\n")
    if as_json:
        out: dict = {"result": result.result, "instructions": result.instructions}
        if repeat > 1:
            out["ns_per_run"] = round(result.ns_per_run or 0.0, 1)
        click.echo(json.dumps(out))
    else:
        click.echo(f"{result.result:#x}")
    return 0
