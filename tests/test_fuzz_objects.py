"""Fuzz the loader: thousands of damaged copies of the test objects (bit flips,
truncation, corrupted section headers and words in the sections that matter). Each
must load cleanly or fail with a BpftimeError — never another exception, never a
hang. Seeded, so a failure is reproducible from the printed case."""
from __future__ import annotations

import io
import random
import signal
import struct
from contextlib import contextmanager

import pytest
from elftools.elf.elffile import ELFFile

from bpftime.btf import decode_value
from bpftime.elf import load_object
from bpftime.errors import BpftimeError
from bpftime.elf.describe import describe

OBJECTS = ["counter", "ringbuf", "globals", "legacy", "syscall", "xdp", "loop", "mapinmap", "externs", "multi",
           "kinds"]
PER_OBJECT = 250
BUDGET_S = 2.0
INTERESTING = [0, 1, 7, 8, 0xFF, 0x7FFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF]
# section header fields: (offset in the 64-byte header, width)
SH_FIELDS = [(0, 4), (4, 4), (8, 8), (24, 8), (32, 8), (40, 4), (44, 4), (56, 8)]
IMPORTANT = (".text", ".BTF", ".BTF.ext", ".symtab", ".strtab", ".maps", "maps", ".data", ".rodata",
             "uprobe", "uretprobe", "tracepoint", "tp/", "xdp", "socket", "kprobe", "raw_tracepoint", ".rel")


class Hang(Exception):
    pass


@contextmanager
def time_budget(seconds: float):
    def expire(signum, frame):
        raise Hang(f"no result within {seconds} s")
    old = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def layout(raw: bytes) -> tuple[int, list[tuple[str, int, int]]]:
    """Section header table offset and (name, offset, size) of the sections worth hitting."""
    elf = ELFFile(io.BytesIO(raw))
    regions = []
    for s in elf.iter_sections():
        if s.name.startswith(IMPORTANT) and s["sh_type"] != "SHT_NOBITS" and s["sh_size"]:
            regions.append((s.name, s["sh_offset"], s["sh_size"]))
    return elf["e_shoff"], regions


def mutate(raw: bytes, rng: random.Random, shoff: int, regions) -> tuple[bytes, str]:
    data = bytearray(raw)
    how = rng.randrange(5)
    if how == 0:
        flips = [rng.randrange(len(data) * 8) for _ in range(rng.randint(1, 8))]
        for bit in flips:
            data[bit // 8] ^= 1 << (bit % 8)
        return bytes(data), f"flip bits {flips}"
    if how == 1:
        size = rng.randrange(len(data))
        return bytes(data[:size]), f"truncate to {size}"
    if how == 2:
        n = (len(data) - shoff) // 64
        index, (off, width) = rng.randrange(n), rng.choice(SH_FIELDS)
        value = rng.choice(INTERESTING + [rng.getrandbits(width * 8), len(raw), len(raw) - 8])
        value &= (1 << (width * 8)) - 1
        at = shoff + index * 64 + off
        data[at:at + width] = value.to_bytes(width, "little")
        return bytes(data), f"section header {index} field +{off} = {value:#x}"
    name, start, size = rng.choice(regions)
    if how == 3:
        at = start + rng.randrange(max(size - 3, 1))
        value = rng.choice(INTERESTING + [rng.getrandbits(32)]) & 0xFFFFFFFF
        data[at:at + 4] = struct.pack("<I", value)[:len(data) - at]
        return bytes(data), f"{name}+{at - start:#x} = {value:#x}"
    bits = [start * 8 + rng.randrange(size * 8) for _ in range(rng.randint(1, 4))]
    for bit in bits:
        data[bit // 8] ^= 1 << (bit % 8)
    return bytes(data), f"flip bits {[(b - start * 8) for b in bits]} of {name}"


def use(obj) -> None:
    """What the CLI does with a loaded object: describe it and decode its global data."""
    describe(obj)
    for m in obj.global_data:
        decode_value(obj.btf, m.value_type_id, m.initial)


@pytest.mark.parametrize("name", OBJECTS)
def test_damaged_objects_load_or_fail_cleanly(bpf_object, tmp_path, name):
    raw = bpf_object(name).read_bytes()
    shoff, regions = layout(raw)
    rng = random.Random(f"bpftime-fuzz-{name}")
    target = tmp_path / f"{name}.o"
    outcomes = {"loaded": 0, "refused": 0}
    for case in range(PER_OBJECT):
        data, what = mutate(raw, rng, shoff, regions)
        target.write_bytes(data)
        try:
            with time_budget(BUDGET_S):
                use(load_object(target))
            outcomes["loaded"] += 1
        except BpftimeError as err:
            assert "\n" not in str(err), f"case {case} ({what}): multi-line error"
            outcomes["refused"] += 1
        except Hang:
            pytest.fail(f"{name} case {case} ({what}): hang")
        except Exception as err:  # noqa: BLE001 - the point of the test
            pytest.fail(f"{name} case {case} ({what}): {type(err).__name__}: {err}")
    assert outcomes["refused"] > PER_OBJECT // 10  # the mutations do reach the checks
