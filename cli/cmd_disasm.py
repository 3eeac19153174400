"""`bpftime disasm`: disassemble an object's programs (annotated with maps, helpers,
called functions and source lines), an assembly file or a conformance file."""
from __future__ import annotations

from pathlib import Path

import click

@click.command()
@click.argument("program", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--prog", metavar="NAME", help="Only this program of an ELF object.")
@click.option("--no-source", is_flag=True, help="Leave out source lines (BTF line info).")
def disasm(program: Path, prog: str | None, no_source: bool) -> int:
    """Disassemble PROGRAM: an ELF object, a .asm/.s file or a conformance .data file.
    The output assembles back to the same instructions (`bpftime run` accepts it again
    where the program uses no maps: map references print as map_idx(N) notes)."""
    from bpftime.listing import disassembly

    click.echo(disassembly(program, prog, not no_source), nl=False)
    return 0
