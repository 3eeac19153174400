"""An extension's object and program, with errors located at its `object:` and `program:`."""
from __future__ import annotations

from typing import TYPE_CHECKING

from bpftime.errors import LoadError

if TYPE_CHECKING:
    from bpftime.eim.model import Extension
    from bpftime.elf.model import BpfObject, Program


def load_extension(ext: Extension) -> tuple[BpfObject, Program]:
    """Load the object an extension names and pick its program; a missing or malformed
    object, or a program it lacks, is a LoadError at the spec line that names it."""
    from bpftime.elf import load_object

    if not ext.object.is_file():
        raise ext.object_where.error(f"extension '{ext.name}': object {ext.object} not found")
    try:
        obj = load_object(ext.object)
    except LoadError as err:
        raise ext.object_where.error(f"extension '{ext.name}': {err}") from None
    try:
        return obj, obj.program(ext.program)
    except LoadError as err:
        raise ext.program_where.error(f"extension '{ext.name}': {err}") from None
