"""The load stage's records in a session, byte for byte as bpftime/native/agent_load.h
lays them out: the "load" table and its status, program images with their slot
records, hook plans with the programs attached to each."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

LOAD_OBJECT = "load"
LOAD_VERSION = 1
MESSAGE_LEN = 256
MODULE_LEN = 256
IMAGE_NAME_LEN = 64

STATUS = struct.Struct(f"<iiQII{MESSAGE_LEN}s")         # struct bpftime_load_status
LOAD = struct.Struct("<IIIIQQ")                          # struct bpftime_load, up to status
LOAD_SIZE = LOAD.size + STATUS.size
SLOT = struct.Struct("<IIQ")                             # struct bpftime_slot
IMAGE = struct.Struct(f"<QQIIQ{IMAGE_NAME_LEN}s")        # struct bpftime_load_image
ATTACH = struct.Struct("<II")                            # struct bpftime_load_attach
PLAN = struct.Struct(f"<QQQ{MODULE_LEN}sII")             # struct bpftime_load_plan
TAILS_OBJECT = "tails"
TAILS = struct.Struct("<II")                             # struct bpftime_load_tails
TAIL = struct.Struct("<QII")                             # struct bpftime_load_tail


class State(IntEnum):
    FAILED = -1
    PENDING = 0
    STARTING = 1
    INSTALLED = 2


class SlotKind(IntEnum):
    SESSION = 1   # session base + value: a map handle, global data
    HELPER = 2    # bpftime_helper_address(index)
    HOST = 4      # load bias of the host executable + value (a host function or variable)


@dataclass(frozen=True)
class SlotRecord:
    kind: SlotKind
    index: int = 0
    value: int = 0


@dataclass(frozen=True)
class Status:
    """What the agent reported (decoded struct bpftime_load_status)."""

    state: State
    pid: int
    startup_ns: int
    hooks: int
    images: int
    message: str

    @classmethod
    def decode(cls, raw: bytes) -> "Status":
        state, pid, startup, hooks, images, message = STATUS.unpack(raw[:STATUS.size])
        return cls(State(state) if state in State._value2member_map_ else State.FAILED, pid,
                   startup, hooks, images, message.split(b"\0", 1)[0].decode(errors="replace"))


def _fixed(text: str, size: int, what: str) -> bytes:
    raw = text.encode()
    if len(raw) >= size:
        raise ValueError(f"{what} {text!r} is longer than {size - 1} bytes")
    return raw


def load_table(n_images: int, n_plans: int, images_at: int, plans_at: int) -> bytes:
    """struct bpftime_load with a PENDING status."""
    return LOAD.pack(LOAD_VERSION, n_images, n_plans, 0, images_at, plans_at) + bytes(STATUS.size)


def status_offset() -> int:
    """Offset of the status inside the load table."""
    return LOAD.size


def image_record(name: str, code: bytes, slots_offset: int, entry_offset: int,
                 slots: list[SlotRecord], code_at: int) -> bytes:
    """struct bpftime_load_image and its slot records; the code lives at `code_at`."""
    head = IMAGE.pack(len(code), slots_offset, len(slots), entry_offset, code_at,
                      name.encode()[:IMAGE_NAME_LEN - 1])
    return head + b"".join(SLOT.pack(s.kind, s.index, s.value) for s in slots)


def plan_record(plan: bytes, plan_at: int, module: str, vaddr: int,
                programs: list[tuple[int, bool]]) -> bytes:
    """struct bpftime_load_plan: the hook plan at `plan_at`, and (image, at_return)
    pairs in the order the extensions run."""
    head = PLAN.pack(len(plan), plan_at, vaddr, _fixed(module, MODULE_LEN, "module path"),
                     len(programs), 0)
    return head + b"".join(ATTACH.pack(image, int(at_return)) for image, at_return in programs)


def tails_record(tails: list[tuple[int, int, int]]) -> bytes:
    """struct bpftime_load_tails: (prog_array map offset, slot, image) triples."""
    return TAILS.pack(len(tails), 0) + b"".join(TAIL.pack(m, slot, image) for m, slot, image in tails)


def read_status(session, load_offset: int | None = None) -> Status | None:
    """The agent's report in `session` (a bpftime.runtime.Session), None without a
    load table; `load_offset` saves looking the table up."""
    import ctypes

    from bpftime.runtime import ObjectKind

    if load_offset is None:
        load_offset = session.find_object(ObjectKind.BLOB, LOAD_OBJECT)
        if load_offset is None:
            return None
    raw = ctypes.string_at(session.address(load_offset + status_offset()), STATUS.size)
    return Status.decode(raw)
