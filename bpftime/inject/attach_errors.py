"""The error `bpftime attach`/`detach` raise for a process they cannot (or may not)
extend: one line saying what and why."""
from __future__ import annotations

from bpftime.errors import BpftimeError


class AttachError(BpftimeError):
    """A target process that cannot be attached to or detached from."""

    exit_code = 1


class NotFound(AttachError):
    """A process or session that does not exist: malformed input, as a missing file."""

    exit_code = 2
