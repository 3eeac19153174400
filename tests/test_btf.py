"""Our BTF parser against bpftool's reading of the same objects, value decoding, and
clean errors on bad BTF."""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from bpftime.btf import Kind, decode_value, parse_btf, parse_btf_ext
from bpftime.elf import load_object
from bpftime.elf.reader import read_elf
from bpftime.errors import LoadError

PROGRAMS = ["counter", "ringbuf", "globals", "legacy", "syscall", "xdp", "loop", "mapinmap", "externs", "multi",
            "kinds"]
_ENCODING = {"(none)": 0, "SIGNED": 1, "CHAR": 2, "BOOL": 4}


def bpftool_types(path) -> list[dict]:
    tool = shutil.which("bpftool")
    if tool is None:
        pytest.skip("bpftool is not installed (make setup installs it)")
    out = subprocess.run([tool, "-j", "btf", "dump", "file", str(path)], capture_output=True, text=True)
    if out.returncode:
        pytest.skip(f"bpftool cannot dump BTF here: {out.stderr.strip()[:200]}")
    return json.loads(out.stdout)["types"]


@pytest.mark.parametrize("name", PROGRAMS)
def test_types_agree_with_bpftool(bpf_object, name):
    obj = load_object(bpf_object(name))
    theirs = bpftool_types(obj.path)
    assert len(obj.btf) - 1 == len(theirs)
    for t in theirs:
        ours = obj.btf.type(t["id"])
        assert ours.kind.name == t["kind"]
        assert (ours.name or "(anon)") == t["name"]
        kind = t["kind"]
        if kind == "INT":
            assert (ours.size, ours.int_bits, ours.int_offset, ours.int_encoding) == \
                (t["size"], t["nr_bits"], t["bits_offset"], _ENCODING[t["encoding"]])
        elif kind in ("STRUCT", "UNION"):
            assert ours.size == t["size"]
            assert [(m.name or "(anon)", m.type, m.bit_offset) for m in ours.members] == \
                [(m["name"], m["type_id"], m["bits_offset"]) for m in t["members"]]
        elif kind == "ARRAY":
            assert (ours.elem_type, ours.index_type, ours.nelems) == \
                (t["type_id"], t["index_type_id"], t["nr_elems"])
        elif kind in ("ENUM", "ENUM64"):
            mask = (1 << (8 * ours.size)) - 1  # bpftool sign-extends 32-bit values
            assert [(v.name, v.value & mask) for v in ours.values] == [(v["name"], v["val"] & mask) for v in t["values"]]
        elif kind == "FLOAT":
            assert ours.size == t["size"]
        elif kind == "FWD":
            assert ("union" if ours.kind_flag else "struct") == t["fwd_kind"]
        elif kind == "FUNC_PROTO":
            assert ours.type == t["ret_type_id"]
            assert [(p.name or "(anon)", p.type) for p in ours.params] == \
                [(p["name"], p["type_id"]) for p in t["params"]]
        elif kind == "DATASEC":
            # bpftool shows the file's values; ours are fixed up from the ELF as libbpf does
            assert [s.type for s in ours.secinfos] == [v["type_id"] for v in t["vars"]]
        elif "type_id" in t:
            assert ours.type == t["type_id"]
        if kind == "DECL_TAG":
            assert ours.component_idx == t["component_idx"]
        if kind in ("FUNC", "VAR"):
            assert ["static", "global", "extern"][ours.linkage] == t["linkage"]


def test_every_kind_clang_emits(bpf_object):
    obj = load_object(bpf_object("kinds"))
    btf = obj.btf
    assert {t.kind for t in btf} == set(Kind) - {Kind.VOID, Kind.ENUM64}  # ENUM64 needs clang 15
    sample = btf.find("sample", Kind.STRUCT)
    seq_tag = btf.find("sequence", Kind.DECL_TAG)
    assert seq_tag.type == sample.id and btf.members(sample.id)[seq_tag.component_idx].name == "seq"
    assert btf.find("latest", Kind.DECL_TAG).component_idx == -1
    names = {m.name: btf.name_of(m.type) for m in btf.members(sample.id)}
    assert names["handle"] == "struct opaque *"
    assert names["user_data"] == 'int __attribute__((btf_type_tag("user"))) *'
    assert names["seq"] == "volatile u32" and names["n"] == "union number"
    copy = btf.find("copy", Kind.FUNC)
    assert btf.name_of(copy.id) == "int copy(struct sample *restrict, const struct sample *restrict)"
    data = (struct.pack("<d", 1.5) + struct.pack("<f", 0.25) + struct.pack("<i", -1)
            + struct.pack("<QQ", 0x1000, 0x2000) + struct.pack("<I", 9) + bytes([0b01010_011]) + bytes(3))
    assert decode_value(btf, sample.id, data) == {
        "n": {"bits": 0x3FF8000000000000, "real": 1.5}, "ratio": 0.25, "level": "LOW",
        "handle": 0x1000, "user_data": 0x2000, "seq": 9, "bits": 3, "more": 10}


def test_names_sizes_members(bpf_object):
    obj = load_object(bpf_object("mapinmap"))
    btf = obj.btf
    value = btf.find("value", Kind.STRUCT)
    assert btf.size(value.id) == 32
    assert [(m.name, m.bit_offset) for m in btf.members(value.id)] == \
        [("bytes", 0), ("name", 64), ("verdict", 192)]
    assert btf.name_of(btf.members(value.id)[1].type) == "char [16]"
    u64 = btf.find("u64", Kind.TYPEDEF)
    assert btf.resolve(u64.id).name == "unsigned long long" and btf.size(u64.id) == 8
    ptr = next(t for t in btf if t.kind == Kind.PTR and btf.type(t.type).name == "value")
    assert btf.name_of(ptr.id) == "struct value *" and btf.size(ptr.id) == 8


def test_decode_global_data(bpf_object):
    obj = load_object(bpf_object("globals"))
    rodata = obj.map("globals.rodata")
    value = decode_value(obj.btf, rodata.value_type_id, rodata.initial)
    assert value["cfg"] == {"limit": 100, "verbose": 1, "tag": "demo"}
    assert value["greeting"] == "hello from bpftime"
    data = obj.map("globals.data")
    assert decode_value(obj.btf, data.value_type_id, data.initial) == {"hits": 7}
    # no type, or bytes of the wrong size: hex
    assert decode_value(obj.btf, 0, b"\x01\x02") == "0102"
    assert decode_value(None, rodata.value_type_id, b"\xff") == "ff"
    assert decode_value(obj.btf, data.value_type_id, b"\0" * 3) == "000000"


# ---- hand-built BTF: exact layouts, bitfields, enums, and damage ---------------------------

class Builder:
    """Writes a .BTF section, type by type (ids from 1)."""

    def __init__(self):
        self.strings = bytearray(b"\0")
        self.types = bytearray()
        self.count = 0

    def name(self, text: str) -> int:
        if not text:
            return 0
        off = len(self.strings)
        self.strings += text.encode() + b"\0"
        return off

    def add(self, kind: Kind, name: str, size_or_type: int, vlen: int = 0, kflag: bool = False,
            extra: bytes = b"") -> int:
        info = (int(kflag) << 31) | (int(kind) << 24) | vlen
        self.types += struct.pack("<III", self.name(name), info, size_or_type) + extra
        self.count += 1
        return self.count

    def int(self, name: str, size: int, signed: bool = False, bits: int | None = None) -> int:
        enc = 1 if signed else 0
        return self.add(Kind.INT, name, size, extra=struct.pack("<I", (enc << 24) | (bits or size * 8)))

    def struct(self, name: str, size: int, members: list[tuple[str, int, int, int]], union=False) -> int:
        extra = b"".join(struct.pack("<III", self.name(n), t, (bits << 24) | off) for n, t, off, bits in members)
        kflag = any(bits for *_, bits in members)
        return self.add(Kind.UNION if union else Kind.STRUCT, name, size, len(members), kflag, extra)

    def bytes(self) -> bytes:
        hdr = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(self.types), len(self.types), len(self.strings))
        return hdr + bytes(self.types) + bytes(self.strings)


def sample() -> tuple[Builder, dict[str, int]]:
    b = Builder()
    ids = {}
    ids["u32"] = b.int("unsigned int", 4)
    ids["s16"] = b.int("short", 2, signed=True)
    ids["char"] = b.int("char", 1, signed=True)
    ids["enum"] = b.add(Kind.ENUM, "color", 4, 2, extra=struct.pack("<IiIi", b.name("RED"), 0, b.name("BLUE"), 7))
    ids["arr"] = b.add(Kind.ARRAY, "", 0, extra=struct.pack("<III", ids["char"], ids["u32"], 4))
    ids["flags"] = b.struct("flags", 4, [("lo", ids["u32"], 0, 3), ("hi", ids["s16"], 3, 5)])
    ids["num"] = b.struct("", 4, [("as_u32", ids["u32"], 0, 0), ("as_s16", ids["s16"], 0, 0)], union=True)
    ids["rec"] = b.struct("rec", 20, [("x", ids["s16"], 0, 0), ("c", ids["enum"], 32, 0),
                                      ("tag", ids["arr"], 64, 0), ("f", ids["flags"], 96, 0),
                                      ("", ids["num"], 128, 0)])
    ids["typedef"] = b.add(Kind.TYPEDEF, "rec_t", ids["rec"])
    ids["const"] = b.add(Kind.CONST, "", ids["typedef"])
    ids["ptr"] = b.add(Kind.PTR, "", ids["const"])
    return b, ids


def test_decode_struct_bitfields_enum_union():
    b, ids = sample()
    btf = parse_btf(b.bytes())
    data = (struct.pack("<h2x", -2) + struct.pack("<I", 7) + b"ab\0\0"
            + struct.pack("<I", 0b10110_101) + struct.pack("<I", 0xFFFF))
    assert decode_value(btf, ids["const"], data) == {
        "x": -2, "c": "BLUE", "tag": "ab", "f": {"lo": 5, "hi": -10}, "as_u32": 0xFFFF, "as_s16": -1}
    assert decode_value(btf, ids["arr"], b"\x01\x02\x03\x04") == [1, 2, 3, 4]  # not printable
    assert btf.name_of(ids["ptr"]) == "const rec_t *"
    assert btf.name_of(ids["arr"]) == "char [4]"
    assert btf.size(ids["const"]) == 20
    assert btf.resolve(ids["const"]).name == "rec"
    assert [(m.name, m.bit_offset, m.bitfield_size) for m in btf.members(ids["flags"])] == [("lo", 0, 3), ("hi", 3, 5)]


def _corrupt(data: bytes, at: int, value: bytes) -> bytes:
    return data[:at] + value + data[at + len(value):]


@pytest.mark.parametrize("damage, expect", [
    (lambda d: d[:10], "too small"),
    (lambda d: _corrupt(d, 0, b"\x00\x00"), "bad magic"),
    (lambda d: _corrupt(d, 2, b"\x02"), "version"),
    (lambda d: _corrupt(d, 12, struct.pack("<I", 10**6)), "runs past the end"),
    (lambda d: _corrupt(d, 24 + 4, struct.pack("<I", 31 << 24)), "unknown kind 31"),
    (lambda d: _corrupt(d, 24, struct.pack("<I", 10**6)), "outside the string section"),
    (lambda d: _corrupt(d, 12, struct.pack("<I", 30)), "runs past the type section"),
])
def test_bad_btf(damage, expect):
    b, ids = sample()
    with pytest.raises(LoadError, match="prog.o: .BTF") as info:
        parse_btf(damage(b.bytes()), "prog.o: .BTF")
    assert expect in str(info.value) and "offset 0x" in str(info.value)


def test_dangling_type_reference():
    b = Builder()
    b.add(Kind.PTR, "", 42)
    with pytest.raises(LoadError, match=r"offset 0x0: type 1 \(PTR\) refers to type 42"):
        parse_btf(b.bytes())


def test_modifier_loop_is_an_error_not_a_hang():
    b = Builder()
    b.add(Kind.TYPEDEF, "a", 2)
    b.add(Kind.TYPEDEF, "b", 1)
    btf = parse_btf(b.bytes())
    with pytest.raises(LoadError, match="loops"):
        btf.size(1)
    assert decode_value(btf, 1, b"\x01") == "01"


def test_btf_ext_records(bpf_object):
    obj = load_object(bpf_object("counter"))
    sec = obj.btf  # parse .BTF.ext by hand as well, to check section keys
    image = read_elf(obj.path)
    ext = parse_btf_ext(image.section(".BTF.ext").data, sec)
    assert set(ext.func_info) == {"uprobe//proc/self/exe:target_function", "uprobe"}
    [fi] = ext.func_info["uprobe"]
    assert (fi.insn, sec.type(fi.type_id).name) == (0, "count_any")
    lines = ext.line_info["uprobe"]
    assert all(li.file.endswith("counter.bpf.c") for li in lines)
    assert any("bpf_map_lookup_elem" in li.source for li in lines)
    with pytest.raises(LoadError, match=r"\.BTF\.ext: offset 0x0: bad magic"):
        parse_btf_ext(b"\0" * 32, sec)
    damaged = bytearray(image.section(".BTF.ext").data)
    damaged[8:12] = struct.pack("<I", 10**6)  # func_info offset
    with pytest.raises(LoadError, match="func_info"):
        parse_btf_ext(bytes(damaged), sec)


def test_enum64_signed_and_unsigned():
    b = Builder()
    vals = [("HUGE", 1 << 40), ("NEG", -5)]
    extra = b"".join(struct.pack("<IIi", b.name(n), v & 0xFFFFFFFF, v >> 32) for n, v in vals)
    signed = b.add(Kind.ENUM64, "big", 8, 2, kflag=True, extra=extra)
    unsigned = b.add(Kind.ENUM64, "ubig", 8, 1, extra=struct.pack("<III", b.name("TOP"), 0, 0x80000000))
    btf = parse_btf(b.bytes())
    assert [(v.name, v.value) for v in btf.type(signed).values] == vals
    assert btf.type(unsigned).values[0].value == 1 << 63
    assert btf.name_of(signed) == "enum big" and btf.size(signed) == 8
    assert decode_value(btf, signed, struct.pack("<q", -5)) == "NEG"
    assert decode_value(btf, signed, struct.pack("<q", 3)) == 3
    assert decode_value(btf, unsigned, struct.pack("<Q", 1 << 63)) == "TOP"


def test_kernel_btf_agrees_with_bpftool():
    """The running kernel's BTF: 100k+ types of every kind, including ENUM64."""
    vmlinux = Path("/sys/kernel/btf/vmlinux")
    if not vmlinux.exists():
        pytest.skip("the kernel exposes no BTF at /sys/kernel/btf/vmlinux")
    tool = shutil.which("bpftool")
    if tool is None:
        pytest.skip("bpftool is not installed (make setup installs it)")
    text = subprocess.run([tool, "btf", "dump", "file", str(vmlinux)], capture_output=True, text=True,
                          check=True).stdout
    btf = parse_btf(vmlinux.read_bytes(), str(vmlinux))
    headers = re.findall(r"^\[(\d+)\] (\w+) '([^']*)'", text, re.M)
    assert len(btf) - 1 == len(headers)
    for tid, kind, name in headers:
        t = btf.type(int(tid))
        assert (t.kind.name, t.name or "(anon)") == (kind, name)
    for tid, body in re.findall(r"^\[(\d+)\] ENUM64 [^\n]*\n((?:\t[^\n]*\n)*)", text, re.M):
        theirs = [(n, int(v)) for n, v in re.findall(r"'(\w+)' val=(-?\d+)", body)]
        assert [(v.name, v.value) for v in btf.type(int(tid)).values] == theirs
