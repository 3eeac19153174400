"""How `bpftime load` shows ring buffer and perf event records: JSON lines, decoded
through BTF with --event-type, hex otherwise."""
from __future__ import annotations

import json
import struct

import pytest
from test_load_support import example_object

from bpftime.elf.loader import load_object
from bpftime.errors import LoadError
from bpftime.inject.events import find_event_type, format_record


@pytest.fixture(scope="module")
def events_object():
    return load_object(example_object("ringbuf"))


def record(pid: int, tid: int, ident: int, name: bytes) -> bytes:
    return struct.pack("<IIq16s", pid, tid, ident, name)


def test_struct_records_are_decoded(events_object):
    event = find_event_type("event", [(events_object.path, events_object.btf)])
    assert event.size == 32
    line = format_record("events", record(7, 8, -3, b"gamma"), event)
    assert json.loads(line) == {"map": "events",
                                "event": {"pid": 7, "tid": 8, "id": -3, "name": "gamma"}}


def test_padded_perf_records_decode_their_prefix(events_object):
    event = find_event_type("event", [(events_object.path, events_object.btf)])
    line = format_record("out", record(1, 2, 3, b"x") + bytes(8), event)
    assert json.loads(line)["event"]["id"] == 3


def test_short_or_untyped_records_are_hex(events_object):
    event = find_event_type("event", [(events_object.path, events_object.btf)])
    assert json.loads(format_record("events", b"\x01\x02", event)) == {"map": "events", "hex": "0102"}
    assert json.loads(format_record("events", b"\xff", None)) == {"map": "events", "hex": "ff"}


def test_unknown_event_type_names_the_objects(events_object):
    with pytest.raises(LoadError, match=r"--event-type nope: no struct nope in the BTF of .*events\.bpf\.o"):
        find_event_type("nope", [(events_object.path, events_object.btf)])
