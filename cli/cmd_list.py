"""`bpftime list`: live sessions, where their extensions run, and their hits."""
from __future__ import annotations

import json

import click


@click.command(name="list", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of text.")
def list_(as_json: bool) -> int:
    """Every bpftime session: load or attach, the process its extensions run in,
    each extension at its entry and how often it ran (attached sessions count hits)."""
    from dataclasses import asdict

    from bpftime.inject.attach_list import list_sessions

    rows = list_sessions()
    if as_json:
        click.echo(json.dumps([asdict(r) for r in rows], indent=1))
        return 0
    if not rows:
        click.echo("no bpftime sessions")
        return 0
    for r in rows:
        creator = f"by {r.creator}" + ("" if r.creator_alive else " (gone)")
        process = f"process {r.pid} ({r.comm})" if r.pid else "no process yet"
        click.echo(f"{r.name}  {r.kind} {creator}  {process}  {r.state}")
        for e in r.extensions:
            hits = "-" if e.hits is None else str(e.hits)
            click.echo(f"  {e.name:<24} {e.kind:<9} {e.entry:<40} hits {hits}")
    return 0
