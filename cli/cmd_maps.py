"""`bpftime maps [SESSION] [NAME] [--json]`: the maps of a live session, from any terminal."""
from __future__ import annotations

import json

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("session", required=False)
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print {\"maps\": {NAME: [{key, value}]}}.")
def maps(session: str | None, name: str | None, as_json: bool) -> int:
    """Show the maps of SESSION (a session name such as /bpftime-1234-…, or a pid: of
    the `bpftime load` that made it or of the program it extends; default: the only
    live session), or only map NAME."""
    from bpftime.inject.mapview import session_views, to_json, to_text
    from bpftime.inject.sessions import looks_like_session, pick_session

    if session is not None and name is None and not looks_like_session(session):
        session, name = None, session
    live = pick_session(session)
    try:
        views = session_views(live, name)
        click.echo(json.dumps(to_json(views)) if as_json else to_text(views))
    finally:
        live.close()
    return 0
