"""The attach record of a session, byte for byte as bpftime/native/agent_attach.h
lays it out: the per-program hit counters and the agent's attach/detach report."""
from __future__ import annotations

import ctypes
import struct
from dataclasses import dataclass
from enum import IntEnum

from bpftime.runtime import ObjectKind, Session

ATTACH_OBJECT = "attach"
ATTACH_VERSION = 1
MESSAGE_LEN = 256
ATTACH = struct.Struct(f"<IIQiiQII{MESSAGE_LEN}s")      # struct bpftime_attach
STATE_OFFSET = 16                                       # of `state` in it


class AttachState(IntEnum):
    FAILED = -1
    PENDING = 0
    ATTACHED = 1
    DETACHED = 2


@dataclass(frozen=True)
class AttachRecord:
    """What the agent reported, and where the hit counters are."""

    offset: int          # of the record in the session
    n_hits: int
    hits_offset: int
    state: AttachState
    pid: int
    detach_ns: int
    removed: int
    message: str

    @classmethod
    def read(cls, session: Session, offset: int) -> "AttachRecord":
        raw = ctypes.string_at(session.address(offset), ATTACH.size)
        _, n_hits, hits, state, pid, detach_ns, removed, _, message = ATTACH.unpack(raw)
        known = state in AttachState._value2member_map_
        return cls(offset, n_hits, hits, AttachState(state) if known else AttachState.FAILED, pid,
                   detach_ns, removed, message.split(b"\0", 1)[0].decode(errors="replace"))

    def hits(self, session: Session) -> list[int]:
        """The counters' current values: plan by plan, each plan's programs in order."""
        raw = ctypes.string_at(session.address(self.hits_offset), 8 * self.n_hits)
        return list(struct.unpack(f"<{self.n_hits}Q", raw))


def abandon(session: Session, offset: int, message: str) -> None:
    """Mark a PENDING record as given up on: an agent that gets to it later leaves
    the process alone (agent_attach.c checks the state under its lock)."""
    raw = message.encode()[:MESSAGE_LEN - 1] + b"\0"
    ctypes.memmove(session.address(offset + ATTACH.size - MESSAGE_LEN), raw, len(raw))
    ctypes.c_int32.from_address(session.address(offset + STATE_OFFSET)).value = AttachState.FAILED


def add_record(session: Session, n_hits: int) -> int:
    """A PENDING attach record followed by `n_hits` zeroed counters: its offset."""
    offset = session.add_object(ObjectKind.BLOB, ATTACH_OBJECT, ATTACH.size + 8 * n_hits)
    head = ATTACH.pack(ATTACH_VERSION, n_hits, offset + ATTACH.size, 0, 0, 0, 0, 0, b"")
    ctypes.memmove(session.address(offset), head, len(head))
    return offset


def find_record(session: Session) -> AttachRecord | None:
    """The session's attach record; None for a session `bpftime load` made."""
    offset = session.find_object(ObjectKind.BLOB, ATTACH_OBJECT)
    return None if offset is None else AttachRecord.read(session, offset)
