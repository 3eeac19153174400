"""`bpftime detach PID|SESSION`: take attached extensions out of a running process."""
from __future__ import annotations

import click


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("which", metavar="PID|SESSION")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="Seconds to wait for the agent's report.")
def detach(which: str, timeout: float) -> int:
    """Restore every byte `bpftime attach` patched in process PID (or for SESSION);
    the attach command in the other terminal then ends and shows its maps."""
    from bpftime.inject.attach_detach import detach as run_detach

    for done in run_detach(which, timeout):
        click.echo(f"process {done.pid}: session {done.session} detached: {done.record.message}, "
                   f"every patched byte restored ({done.record.detach_ns / 1e6:.2f} ms)")
    return 0
