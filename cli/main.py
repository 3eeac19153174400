"""Entry point of the `bpftime` command.

Each sub-command lives in its own module and is imported only when it is run, so
that `bpftime --help` and `bpftime run` never pay for frida, lief or capstone.
"""
from __future__ import annotations

import importlib
import sys

import click

from bpftime.errors import BpftimeError

# name -> (module, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "maps": ("cli.cmd_maps", "maps", "Show the maps of a live session (from another terminal)."),
    "attach": ("cli.cmd_attach", "attach", "Install eBPF extensions in a running process (Frida), until detached."),
    "detach": ("cli.cmd_detach", "detach", "Take attached extensions out of a process, restoring every byte."),
    "list": ("cli.cmd_list", "list_", "List sessions, their processes, extensions and hit counts."),
    "load": ("cli.cmd_load", "load", "Start a program with eBPF extensions on its functions (uprobes)."),
    "verify": ("cli.cmd_verify", "verify", "Prove extensions safe: a deployment spec's, or an object's programs."),
    "run": ("cli.cmd_run", "run", "Run an eBPF program (object, assembly or conformance file)."),
    "inspect": ("cli.cmd_inspect", "inspect", "Show the programs, maps, globals and BTF of an object."),
    "disasm": ("cli.cmd_disasm", "disasm", "Disassemble a program, annotating relocations and source lines."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        entry = COMMANDS.get(name)
        if entry is None:
            return None
        module, attr, _ = entry
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="bpftime")
def bpftime() -> None:
    """bpftime: verified eBPF extensions running natively inside Linux programs."""


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every `BpftimeError` becomes one line on stderr and its exit code."""
    try:
        code = bpftime.main(args=argv, prog_name="bpftime", standalone_mode=False)
    except BpftimeError as err:
        click.echo(f"bpftime: error: {err}", err=True)
        return err.exit_code
    except click.exceptions.Abort:
        click.echo("bpftime: aborted", err=True)
        return 130
    except click.UsageError as err:  # one line, like every other error
        hint = f" (see '{err.ctx.command_path} --help')" if err.ctx is not None else ""
        click.echo(f"bpftime: error: {err.format_message()}{hint}", err=True)
        return err.exit_code
    except click.ClickException as err:
        click.echo(f"bpftime: error: {err.format_message()}", err=True)
        return err.exit_code
    except OSError as err:
        click.echo(f"bpftime: error: {err}", err=True)
        return 1
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
