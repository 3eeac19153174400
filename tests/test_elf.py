"""The object loader on objects clang builds from tests/programs: programs, attach
points, maps, relocations, externs, and clean errors on damaged files."""
from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from bpftime.elf import RELOC_CALL, RELOC_FUNC, RELOC_MAP, RELOC_MAP_VALUE, load_object, parse_attach
from bpftime.errors import LoadError
from bpftime.isa import CallKind, Pseudo
from bpftime.kernel_abi import MapType


def readelf(*args: str) -> str:
    tool = shutil.which("llvm-readelf")
    if tool is None:
        pytest.skip("llvm-readelf is not installed (make setup installs llvm)")
    return subprocess.run([tool, *args], capture_output=True, text=True, check=True).stdout


def readelf_relocs(obj: Path) -> dict[str, dict[int, tuple[str, str]]]:
    """relocation section name -> {offset: (type, symbol)} as llvm-readelf prints them."""
    out: dict[str, dict[int, tuple[str, str]]] = {}
    current = None
    for line in readelf("-r", str(obj)).splitlines():
        m = re.match(r"Relocation section '(.*)' at offset", line)
        if m:
            current = out.setdefault(m.group(1), {})
            continue
        m = re.match(r"([0-9a-f]{16})\s+[0-9a-f]{16}\s+(R_BPF_\w+)\s+[0-9a-f]{16}\s+(\S+)", line)
        if m and current is not None:
            current[int(m.group(1), 16)] = (m.group(2), m.group(3))
    return out


def readelf_functions(obj: Path) -> dict[str, int]:
    """FUNC symbol name -> size in bytes."""
    out = {}
    for line in readelf("-s", str(obj)).splitlines():
        cols = line.split()
        if len(cols) >= 8 and cols[3] == "FUNC":
            out[cols[7]] = int(cols[2], 0)
    return out


def test_counter_programs_maps_and_relocations(bpf_object):
    path = bpf_object("counter")
    obj = load_object(path)
    assert [p.name for p in obj.programs] == ["count_target", "count_any"]
    target, anywhere = obj.programs
    assert (target.attach.kind, target.attach.binary, target.attach.function) == \
        ("uprobe", "/proc/self/exe", "target_function")
    assert anywhere.attach.kind == "uprobe" and anywhere.attach.binary is None
    assert obj.license == "GPL"
    [calls] = obj.maps
    assert (calls.name, calls.type, calls.key_size, calls.value_size, calls.max_entries) == \
        ("calls", MapType.HASH, 4, 8, 1024)
    sizes = readelf_functions(path)
    relocs = readelf_relocs(path)
    for prog in obj.programs:
        assert len(prog.insns) == sizes[prog.name] // 8  # no subprograms
        expected = {off // 8: sym for off, (kind, sym) in relocs[".rel" + prog.section].items()}
        assert {r.insn: r.name for r in prog.relocs} == expected
        for r in prog.relocs:
            insn = prog.insns[r.insn]
            assert (insn.src, insn.imm) == (Pseudo.MAP_IDX, 0) and r.kind == RELOC_MAP


def test_globals_become_array_maps_with_initial_data(bpf_object):
    obj = load_object(bpf_object("globals"))
    by_section = {m.section: m for m in obj.maps}
    assert by_section[".data"].name == "globals.data"
    assert by_section[".data"].initial == struct.pack("<Q", 7)
    assert by_section[".bss"].initial == bytes(8)
    assert by_section[".data.custom"].name == ".data.custom"
    assert by_section[".data.custom"].initial == struct.pack("<i", 42)
    rodata = by_section[".rodata"]
    assert rodata.flags & 0x80  # BPF_F_RDONLY_PROG
    assert b"hello from bpftime\0" in rodata.initial
    assert b"a literal string\0" in by_section[".rodata.str1.1"].initial
    for m in obj.global_data:
        assert (m.type, m.key_size, m.max_entries, m.value_size) == (MapType.ARRAY, 4, 1, len(m.initial))
    greeting = next(g for g in obj.globals if g.name == "greeting")
    assert rodata.initial[greeting.offset:greeting.offset + greeting.size] == b"hello from bpftime\0"
    [prog] = obj.programs
    # every global-data reference is lddw MAP_IDX_VALUE with map index and offset
    values = [r for r in prog.relocs if r.kind == RELOC_MAP_VALUE]
    assert {r.name for r in values} == {m.name for m in obj.global_data}
    for r in values:
        insn = prog.insns[r.insn]
        assert insn.src == Pseudo.MAP_IDX_VALUE
        assert obj.maps[insn.imm].name == r.name and insn.imm_hi == r.offset
    assert any(r.offset == greeting.offset for r in values)


def test_subprograms_appended_in_call_order_with_fixed_calls(bpf_object):
    obj = load_object(bpf_object("globals"))
    [prog] = obj.programs
    sizes = readelf_functions(obj.path)
    assert [name for name, _ in prog.subprograms] == ["accumulate", "clamp"]
    starts = dict(prog.subprograms)
    assert starts["accumulate"] == sizes["on_work"] // 8
    assert starts["clamp"] == starts["accumulate"] + sizes["accumulate"] // 8
    assert len(prog.insns) == sum(sizes.values()) // 8
    calls = {r.name: r.insn for r in prog.relocs if r.kind == RELOC_CALL}
    assert set(calls) == {"accumulate", "clamp"}
    for name, at in calls.items():
        insn = prog.insns[at]
        assert insn.src == CallKind.LOCAL and insn.jump_target(at) == starts[name]
    # func_info and line_info follow the copies
    assert [(f.name, f.insn) for f in prog.func_info] == [("on_work", 0), ("accumulate", starts["accumulate"]),
                                                         ("clamp", starts["clamp"])]
    clamp_lines = [li for li in prog.line_info if li.insn >= starts["clamp"]]
    assert clamp_lines and all(li.file.endswith("globals.bpf.c") for li in clamp_lines)
    assert any("cfg.limit" in li.source for li in clamp_lines)


def test_legacy_maps_and_socket_kprobe(bpf_object):
    obj = load_object(bpf_object("legacy"))
    assert [(m.name, m.type, m.key_size, m.value_size, m.max_entries, m.flags, m.section) for m in obj.maps] == [
        ("packets", MapType.ARRAY, 4, 8, 256, 0, "maps"),
        ("by_len", MapType.HASH, 4, 8, 64, 1, "maps"),
    ]
    progs = {p.name: p for p in obj.programs}
    assert progs["count_packets"].attach.kind == "socket"
    kp = progs["on_open"].attach
    assert (kp.kind, kp.function, kp.offset) == ("kprobe", "do_sys_openat2", 8)
    for p in obj.programs:
        for r in p.relocs:
            assert p.insns[r.insn].imm == obj.map_index(r.name)


def test_tracepoints_core_relocations(bpf_object):
    obj = load_object(bpf_object("syscall"))
    progs = {p.name: p for p in obj.programs}
    enter = progs["enter_openat"].attach
    assert (enter.kind, enter.category, enter.function) == ("tracepoint", "syscalls", "sys_enter_openat")
    assert progs["exit_openat"].attach.function == "sys_exit_openat"
    assert progs["on_switch"].attach.kind == "raw_tracepoint"
    assert {m.name: str(m.type) for m in obj.maps} == {"stats": "percpu_array", "last_path": "lru_hash"}
    # ctx->args[1]: a CO-RE field offset relocation against trace_event_raw_sys_enter
    [relo] = progs["enter_openat"].core_relos
    assert obj.btf.name_of(relo.type_id) == "struct trace_event_raw_sys_enter"
    assert relo.access == "0:2:1" and relo.kind.name == "FIELD_BYTE_OFFSET"


def test_xdp_and_rodata_switch(bpf_object):
    obj = load_object(bpf_object("xdp"))
    [prog] = obj.programs
    assert prog.attach.kind == "xdp" and prog.section == "xdp"
    assert [g.name for g in obj.globals] == ["drop_icmp"]
    assert obj.map("xdp.rodata").initial == b"\0"


def test_bpf_loop_callback_address(bpf_object):
    obj = load_object(bpf_object("loop"))
    [prog] = obj.programs
    [(name, start)] = prog.subprograms
    assert name == "add_square"
    [ref] = [r for r in prog.relocs if r.kind == RELOC_FUNC]
    insn = prog.insns[ref.insn]
    assert insn.is_lddw and insn.src == Pseudo.FUNC
    assert ref.insn + 1 + insn.imm == start  # imm: slot offset from the next instruction
    helper = prog.insns[ref.insn + 2:start]
    assert any(i.is_call and i.src == CallKind.HELPER and i.imm == 181 for i in helper)  # bpf_loop


def test_map_in_map_and_struct_keys(bpf_object):
    obj = load_object(bpf_object("mapinmap"))
    outer = obj.map("outer")
    assert outer.type == MapType.ARRAY_OF_MAPS and outer.value_size == 4 and outer.max_entries == 4
    assert outer.inner is not None and (outer.inner.type, outer.inner.max_entries) == (MapType.ARRAY, 8)
    assert outer.inner_init == {0: "inner_a", 2: "inner_b"}
    jumps = obj.map("jumps")
    assert (jumps.type, jumps.value_size, jumps.inner, jumps.inner_init) == \
        (MapType.PROG_ARRAY, 4, None, {1: "tail_target"})
    flows = obj.map("flows")
    assert (flows.flags, flows.key_size, flows.value_size) == (1, 8, 32)
    assert obj.btf.name_of(flows.key_type_id) == "struct key"
    assert obj.btf.name_of(flows.value_type_id) == "struct value"


def test_externs_become_kfunc_calls_and_btf_id_loads(bpf_object):
    obj = load_object(bpf_object("externs"))
    ext = {e.name: e for e in obj.externs}
    assert {n: e.kind for n, e in ext.items()} == {
        "host_time": "func", "host_copy": "func", "host_optional": "func",
        "host_pid": "var", "LINUX_KERNEL_VERSION": "var"}
    assert ext["host_optional"].weak and not ext["host_time"].weak
    assert ext["LINUX_KERNEL_VERSION"].section == ".kconfig"
    assert obj.btf.name_of(ext["host_copy"].type_id) == "int (void *, const void *, u64)"
    [prog] = obj.programs
    called = [obj.externs[i.imm].name for i in prog.insns if i.is_call and i.src == CallKind.KFUNC]
    assert called == ["host_time", "host_copy", "host_optional"]
    loaded = [obj.externs[i.imm].name for i in prog.insns if i.is_lddw and i.src == Pseudo.BTF_ID]
    assert set(loaded) == {"host_optional", "LINUX_KERNEL_VERSION", "host_pid"}


@pytest.mark.parametrize("section, kind, binary, function, offset", [
    ("uprobe//usr/bin/x:main", "uprobe", "/usr/bin/x", "main", 0),
    ("uprobe/libc.so.6:malloc+0x10", "uprobe", "libc.so.6", "malloc", 16),
    ("uprobe//bin/sh:0x400", "uprobe", "/bin/sh", None, 0x400),
    ("uretprobe//proc/self/exe:f", "uretprobe", "/proc/self/exe", "f", 0),
    ("uprobe.s//bin/x:g", "uprobe", "/bin/x", "g", 0),
    ("uprobe", "uprobe", None, None, 0),
    ("kretprobe/vfs_read", "kretprobe", None, "vfs_read", 0),
])
def test_attach_points(section, kind, binary, function, offset):
    a = parse_attach(section)
    assert (a.kind, a.binary, a.function, a.offset) == (kind, binary, function, offset)


@pytest.mark.parametrize("section", ["uprobe/nofunction", "uretprobe//bin/x:f+8",
                                     "tracepoint/only_one", "kprobe/bad name", "uprobe//bin/x:f+zz"])
def test_bad_attach_points(section):
    with pytest.raises(LoadError, match=re.escape(section)):
        parse_attach(section)


# ---- damaged objects: one-line LoadError naming the file and the place ------------------

def _section_header(raw: bytes, name: str) -> tuple[int, dict]:
    elf = ELFFile(__import__("io").BytesIO(raw))
    for i, s in enumerate(elf.iter_sections()):
        if s.name == name:
            return elf["e_shoff"] + i * elf["e_shentsize"], s.header
    raise KeyError(name)


def _damaged(tmp_path: Path, obj: Path, patch) -> Path:
    raw = bytearray(obj.read_bytes())
    patch(raw)
    out = tmp_path / obj.name
    out.write_bytes(bytes(raw))
    return out


def _load_error(path: Path, *parts: str) -> str:
    with pytest.raises(LoadError) as info:
        load_object(path)
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(str(path))
    for part in parts:
        assert part in msg, msg
    return msg


def test_wrong_machine_class_endianness(bpf_object, tmp_path):
    obj = bpf_object("counter")
    _load_error(_damaged(tmp_path, obj, lambda r: r.__setitem__(slice(18, 20), struct.pack("<H", 62))),
                "EM_BPF")
    _load_error(_damaged(tmp_path, obj, lambda r: r.__setitem__(4, 1)), "ELFCLASS64")
    _load_error(_damaged(tmp_path, obj, lambda r: r.__setitem__(5, 2)), "little-endian")
    _load_error(_damaged(tmp_path, obj, lambda r: r.__setitem__(0, 0)), "not an ELF file")


def test_truncated_object(bpf_object, tmp_path):
    obj = bpf_object("counter")
    for size in (0, 10, 63, 200, obj.stat().st_size - 1):
        _load_error(_damaged(tmp_path, obj, lambda r: r.__delitem__(slice(size, None))))


def test_section_offset_out_of_range(bpf_object, tmp_path):
    obj = bpf_object("counter")

    def patch(raw):
        at, _ = _section_header(bytes(raw), ".BTF")
        raw[at + 24:at + 32] = struct.pack("<Q", len(raw) + 100)  # sh_offset
    _load_error(_damaged(tmp_path, obj, patch), "runs past the end of the file")


def test_relocation_against_missing_symbol(bpf_object, tmp_path):
    obj = bpf_object("counter")

    def patch(raw):
        _, h = _section_header(bytes(raw), ".reluprobe//proc/self/exe:target_function")
        raw[h["sh_offset"] + 12:h["sh_offset"] + 16] = struct.pack("<I", 9999)  # r_info symbol
    _load_error(_damaged(tmp_path, obj, patch), ".reluprobe//proc/self/exe:target_function",
                "symbol 9999")


def test_relocation_offset_out_of_range(bpf_object, tmp_path):
    obj = bpf_object("counter")

    def patch(raw):
        _, h = _section_header(bytes(raw), ".reluprobe")
        raw[h["sh_offset"]:h["sh_offset"] + 8] = struct.pack("<Q", 0x10000)
    _load_error(_damaged(tmp_path, obj, patch), "outside section uprobe")


def _patch_insn(name: str, index: int, data: bytes):
    def patch(raw):
        _, h = _section_header(bytes(raw), name)
        at = h["sh_offset"] + index * 8
        raw[at:at + len(data)] = data
    return patch


def test_unknown_opcode_jump_out_of_range_incomplete_lddw(bpf_object, tmp_path):
    obj = bpf_object("counter")
    sec = "uprobe"
    n = load_object(obj).program("count_any").insns
    _load_error(_damaged(tmp_path, obj, _patch_insn(sec, 3, b"\xff" + bytes(7))),
                "section uprobe", "instruction 3", "unknown opcode 0xff")
    _load_error(_damaged(tmp_path, obj, _patch_insn(sec, 2, bytes([0x05, 0]) + struct.pack("<h", 500) + bytes(4))),
                "instruction 2", "jump out of range")
    _load_error(_damaged(tmp_path, obj, _patch_insn(sec, len(n) - 1, bytes([0x18]) + bytes(7))),
                f"instruction {len(n) - 1}", "incomplete lddw")


def test_bad_btf_names_section_and_offset(bpf_object, tmp_path):
    obj = bpf_object("counter")

    def patch(raw):
        _, h = _section_header(bytes(raw), ".BTF")
        raw[h["sh_offset"]:h["sh_offset"] + 2] = b"\x00\x00"
    _load_error(_damaged(tmp_path, obj, patch), ".BTF", "offset 0x0", "bad magic")


def test_missing_file_is_a_load_error(tmp_path):
    _load_error(tmp_path / "nope.o", "cannot read")


def test_two_programs_in_one_section_each_get_the_shared_subprogram(bpf_object):
    obj = load_object(bpf_object("multi"))
    first, second = obj.programs
    assert (first.section, second.section) == ("xdp", "xdp")
    sizes = readelf_functions(obj.path)
    for prog in (first, second):
        [(name, start)] = prog.subprograms
        assert name == "bump" and start == sizes[prog.name] // 8
        assert len(prog.insns) == start + sizes["bump"] // 8
        [call] = [r for r in prog.relocs if r.kind == RELOC_CALL]
        assert prog.insns[call.insn].jump_target(call.insn) == start
        [m] = [r for r in prog.relocs if r.kind == RELOC_MAP]
        assert m.name == "hits" and m.insn == start + 3  # the lookup in bump's copy
    # `second` starts at slot 4 of the section: its relocations are relative to itself
    assert [r.insn for r in second.relocs if r.kind == RELOC_MAP_VALUE] == [0]


def test_pointer_in_global_data_is_kept_as_a_data_relocation(bpf_object):
    obj = load_object(bpf_object("multi"))
    data = obj.map("multi.data")
    assert data.data_relocs == {8: "counter_a"}
    assert readelf_relocs(obj.path)[".rel.data"] == {8: ("R_BPF_64_ABS64", "counter_a")}


@pytest.mark.parametrize("name", ["counter", "ringbuf", "globals", "legacy", "syscall", "xdp",
                                  "loop", "mapinmap", "externs", "multi"])
def test_debug_info_lands_inside_each_program(bpf_object, name):
    obj = load_object(bpf_object(name))
    for prog in obj.programs:
        starts = [0] + [start for _, start in prog.subprograms]
        assert [f.insn for f in prog.func_info] == starts
        assert prog.line_info and prog.line_info[0].insn == 0
        assert all(0 <= li.insn < len(prog.insns) and not prog.insns[li.insn].opcode == 0
                   for li in prog.line_info)  # never on the second slot of a lddw


def test_relocation_of_the_wrong_kind(bpf_object, tmp_path):
    obj = bpf_object("counter")

    def patch(raw):  # the map lddw's R_BPF_64_64 becomes a call relocation
        _, h = _section_header(bytes(raw), ".reluprobe")
        raw[h["sh_offset"] + 8:h["sh_offset"] + 12] = struct.pack("<I", 10)
    _load_error(_damaged(tmp_path, obj, patch), "section uprobe: instruction 7",
                "R_BPF_64_32 relocation against 'calls' is not on a call")


def test_call_into_the_middle_of_a_function(bpf_object, tmp_path):
    obj = bpf_object("globals")
    # accumulate (.text slot 0) calls clamp (slot 13) without a relocation: `call 12`
    _load_error(_damaged(tmp_path, obj, _patch_insn(".text", 0, bytes([0x85, 0x10, 0, 0]) + struct.pack("<i", 15))),
                "section .text: instruction 0", "is not the start of a function")


def test_global_data_map_names():
    from bpftime.elf import internal_map_name
    assert internal_map_name("globals", ".rodata") == "globals.rodata"
    assert internal_map_name("averyverylongname", ".bss") == "averyver.bss"
    assert internal_map_name("x", ".data.custom") == ".data.custom"
    assert internal_map_name("x", ".rodata.str1.1") == ".rodata.str1.1"
    assert internal_map_name("x", ".data.a_very_long_name") == ".data.a_very_lo"
    assert internal_map_name("my-prog", ".data") == "my_prog.data"


def test_ringbuf_producer_on_uretprobe(bpf_object):
    obj = load_object(bpf_object("ringbuf"))
    [prog] = obj.programs
    assert (prog.attach.kind, prog.attach.binary, prog.attach.function) == ("uretprobe", "/usr/bin/host", "compute")
    [events] = obj.maps
    assert (events.type, events.key_size, events.value_size, events.max_entries) == (MapType.RINGBUF, 0, 0, 4096)
    helpers = [i.imm for i in prog.insns if i.is_call and i.src == CallKind.HELPER]
    assert helpers == [131, 14, 16, 132]  # ringbuf_reserve, get_current_pid_tgid, get_current_comm, ringbuf_submit


def test_object_without_btf(tmp_path):
    from conftest import PROGRAMS, build_bpf
    obj = load_object(build_bpf(PROGRAMS / "legacy.bpf.c", tmp_path, ("-g0",)))
    assert obj.btf is None
    assert [m.name for m in obj.maps] == ["packets", "by_len"]
    for prog in obj.programs:
        assert not prog.line_info and not prog.func_info
        assert {r.name for r in prog.relocs} <= {"packets", "by_len"}
