"""`bpftime verify SPEC.yaml | OBJ | PROGRAM.asm|.data`: prove extensions safe before they run.

A deployment file verifies each extension it names under its class; a development-time
file is resolved against its host on its own and what it offers is listed; a bare object
verifies each of its programs under the default tracing class; an assembly or
conformance `.data` file is verified in the memory context `bpftime run` gives it.
Exit 0 when all pass, 1 when one is rejected, 2 when the input is malformed (a LoadError).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from bpftime.verification import check


def _development(path: Path, as_json: bool) -> int:
    from bpftime.eim import load_development
    from bpftime.eim.offers import offer_line, offers

    dev = load_development(path)
    records = offers(dev)
    if as_json:
        click.echo(json.dumps({"source": str(path), "host": str(dev.host), "offers": records},
                              indent=2))
        return 0
    click.echo(f"{path}: development-time file resolved against host {dev.host}: "
               f"{len(dev.variables)} state, {len(dev.functions)} functions, "
               f"{len(dev.entries)} entries")
    for record in records:
        click.echo(offer_line(record))
    return 0


EPILOG = """\b
Inputs:
  deployment .yaml   each extension under its class
  development .yaml  resolved against its host; lists its state, functions, entries
  OBJ (ELF)          each program under --class (without a spec only 'default': the
                     kernel-uprobe-like tracing class)
  .asm/.s/.data      in bpftime run's memory context (r1 = input, r2 = its size)

\b
Exit codes:
  0  every program accepted (or the development file resolved)
  1  a program rejected (the message names instruction, source line, registers, rule)
  2  malformed input: spec, object, assembly or file (one line, FILE:LINE:COL for specs)
"""


@click.command("verify", epilog=EPILOG)
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--class", "class_name", default="default", show_default=True,
              help="Class of a bare object; the only choice is 'default' (a spec names each "
                   "extension's class).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts (or offers) as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print the verifier's walk.")
def verify(path: Path, class_name: str, as_json: bool, verbose: bool) -> int:
    """Verify every extension of a deployment SPEC.yaml, check a development-time
    .yaml against its host, or verify every program of an OBJ, .asm or .data file."""
    log = (lambda line: click.echo(line, err=as_json)) if verbose else None
    kind, verdicts = check(path, class_name, log)
    if kind == "development":
        return _development(path, as_json)
    if as_json:
        click.echo(json.dumps({"source": str(path), "extensions": [v.to_json() for v in verdicts]},
                              indent=2))
    else:
        for v in verdicts:
            click.echo(v.line())
    return 1 if any(v.error is not None for v in verdicts) else 0
