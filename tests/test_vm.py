"""The interpreter beyond the conformance suite: checked real memory, call frames,
helpers with real addresses, bpf_loop, tail calls, instruction counts and limits."""
from __future__ import annotations

import ctypes

import pytest
from hypothesis import HealthCheck, given, settings

from bpftime.asm import assemble
from bpftime.errors import RuntimeFault
from bpftime.isa import STACK_SIZE, validate_program
from bpftime.vm import Bindings, FixedRegion, Machine
from bpftime.vm.compile import func_address
from bpftime.isa import MAX_TAIL_CALLS
from bpftime.vm.helpers import CONFORMANCE_HELPERS, with_bpf_loop
from jit_support import require_native_images
from test_disasm import programs


def machine(text: str, **kw) -> Machine:
    insns = assemble(text)
    validate_program(insns)
    return Machine(insns, Bindings(**kw) if kw else None)


def fault(text: str, data: bytes | None = None, **kw) -> RuntimeFault:
    with pytest.raises(RuntimeFault) as info:
        machine(text, **kw).run(data)
    return info.value


def test_instruction_count_and_repeat_runs() -> None:
    m = machine("mov %r0, 0\nadd %r0, %r2\nlddw %r3, 1\nexit")
    assert m.run(b"abc") == 3 and m.executed == 4
    assert m.run(None) == 0 and m.executed == 4


def test_input_is_real_memory_and_writable() -> None:
    m = machine("ldxw %r0, [%r1+0]\nstw [%r1+4], 0x11223344\nexit")
    assert m.run(bytes(range(8))) == 0x03020100
    assert m.mem.input_bytes() == bytes(range(4)) + bytes.fromhex("44332211")


@pytest.mark.parametrize("text,pc,words", [
    ("ldxb %r0, [%r1+4]\nexit", 0, "invalid read of 1 bytes"),
    ("ldxw %r0, [%r1+2]\nexit", 0, "invalid read of 4 bytes"),
    ("mov %r0, 0\nstb [%r0+0], 1\nexit", 1, "invalid write of 1 bytes at 0x0"),
    ("ldxdw %r0, [%r10+0]\nexit", 0, "invalid read of 8 bytes"),
    ("ldxdw %r0, [%r10-520]\nexit", 0, "outside the live stack frames"),
])
def test_bad_access_stops_naming_the_instruction(text: str, pc: int, words: str) -> None:
    err = fault(text, b"1234")
    assert err.pc == pc and words in err.reason
    assert str(err).startswith(f"instruction {pc}: ")


def test_callee_gets_fresh_frame_and_caller_stack_survives() -> None:
    text = """
        stdw [%r10-8], 42
        mov %r1, %r10
        add %r1, -8
        mov %r6, %r10
        call local f
        ldxdw %r2, [%r10-8]       # caller's slot, overwritten through the pointer
        jne %r2, 7, bad
        exit                      # r0 = callee's r10 distance
    bad:
        mov %r0, -1
        exit
    f:  ldxdw %r3, [%r10-8]       # the fresh frame is zeroed
        jne %r3, 0, bad2
        stdw [%r1+0], 7           # caller's stack through a pointer
        mov %r0, %r6
        sub %r0, %r10
        exit
    bad2:
        mov %r0, -2
        exit
    """
    assert machine(text).run() == STACK_SIZE


def test_returned_frame_is_no_longer_accessible() -> None:
    text = """
        call local f
        ldxdw %r0, [%r0+0]        # pointer into the callee's dead frame
        exit
    f:  mov %r0, %r10
        add %r0, -8
        exit
    """
    err = fault(text)
    assert err.pc == 1 and "outside the live stack frames" in err.reason


def test_call_depth_is_limited_to_eight_frames() -> None:
    chain = "\n".join(f"f{i}: call local f{i + 1}\nexit" for i in range(6))
    ok = machine(f"call local f0\nexit\n{chain}\nf6: mov %r0, 8\nexit")  # main + f0..f6
    assert ok.run() == 8
    err = fault("call local f\nexit\nf: call local f\nexit")
    assert "call depth exceeds 8 frames" in err.reason


def test_helpers_receive_real_addresses() -> None:
    seen: list[bytes] = []

    def read(m, r1, r2, r3, r4, r5) -> int:
        seen.append(ctypes.string_at(r1, r2))
        return r2 * 2

    text = """
        stdw [%r10-8], 0x41424344
        mov %r1, %r10
        add %r1, -8
        mov %r2, 4
        mov %r6, 99
        call 7
        add %r0, %r6
        exit
    """
    assert machine(text, helpers={7: read}).run() == 8 + 99
    assert seen == [b"DCBA"]


def test_unknown_helper_and_callx() -> None:
    assert "bpf_ktime_get_ns (id 5) is not available" in fault("call 5\nexit").reason
    err = fault("mov %r2, 9\ncall %r2\nexit", helpers={5: lambda *a: 0})
    assert err.pc == 1 and "callx to 0x9" in err.reason


def test_helper_returned_memory_becomes_accessible() -> None:
    buf = (ctypes.c_ubyte * 16)(*range(16))
    address = ctypes.addressof(buf)

    def lookup(m, *args) -> int:
        m.mem.add_region(address, 16, True, "value")
        return address

    text = "call 1\njeq %r0, 0, out\nldxdw %r0, [%r0+8]\nout:\nexit"
    assert machine(text, helpers={1: lookup}).run() == int.from_bytes(bytes(range(8, 16)), "little")
    assert "invalid read" in fault(text, helpers={1: lambda *a: address}).reason  # not declared
    assert "invalid read" in fault("call 1\nldxdw %r0, [%r0+9]\nexit", helpers={1: lookup}).reason


def test_read_only_global_data() -> None:
    data = (ctypes.c_ubyte * 8)(1, 2, 3, 4, 5, 6, 7, 8)
    region = FixedRegion(ctypes.addressof(data), 8, False, ".rodata")
    m = machine("lddw %r1, map_idx_value(0, 4)\nldxw %r0, [%r1+0]\nexit",
                map_values=[ctypes.addressof(data)], regions=[region])
    assert m.run() == 0x08070605
    err = fault("lddw %r1, map_idx_value(0, 0)\nstb [%r1+0], 1\nexit",
                map_values=[ctypes.addressof(data)], regions=[region])
    assert "read-only .rodata" in err.reason


def test_unbound_map_is_a_fault() -> None:
    assert "map #0 is not available" in fault("lddw %r1, map_idx(0)\nexit").reason


def test_bpf_loop_runs_the_callback() -> None:
    text = """
        stdw [%r10-8], 0
        mov %r1, 10
        lddw %r2, func(cb)
        mov %r3, %r10
        add %r3, -8
        mov %r4, 0
        mov %r6, 5
        call bpf_loop
        ldxdw %r1, [%r10-8]
        lsh %r0, 32
        or %r0, %r1
        add %r0, %r6
        exit
    cb: ldxdw %r3, [%r2+0]       # ctx += index; stop after index 6
        add %r3, %r1
        stxdw [%r2+0], %r3
        mov %r6, 1000             # callee-saved: must not leak to the caller
        mov %r0, 0
        jne %r1, 6, +1
        mov %r0, 1
        exit
    """
    m = machine(text, helpers=with_bpf_loop({}))
    assert m.run() == (7 << 32) | (0 + 1 + 2 + 3 + 4 + 5 + 6) + 5


def test_bpf_loop_refuses_flags_and_non_functions() -> None:
    m = machine("mov %r1, 1\nlddw %r2, func(cb)\nmov %r4, 1\ncall bpf_loop\nexit\ncb: exit",
                helpers=with_bpf_loop({}))
    assert m.run() == (1 << 64) - 22
    err = fault("mov %r1, 1\nmov %r2, 3\ncall bpf_loop\nexit", helpers=with_bpf_loop({}))
    assert err.pc == 2 and "not the address of a subprogram" in err.reason


def test_instruction_limit_stops_a_loop() -> None:
    insns = assemble("loop: ja loop\nexit")
    m = Machine(insns, limit=1000)
    with pytest.raises(RuntimeFault, match="instruction limit of 1000 exceeded"):
        m.run()
    assert m.executed == 1000


def test_legacy_packet_loads_are_big_endian_and_bounded() -> None:
    m = machine("ldabsh 1\nmov %r6, %r0\nmov %r2, 2\nldindw %r2, 0\nadd %r0, %r6\nexit")
    assert m.run(bytes([0, 0x12, 0x34, 0, 0, 0, 1])) == 0x1234 + 0x34000000
    assert "outside the 3-byte input" in fault("ldabsw 0\nexit", b"abc").reason


def test_atomics_on_input_memory() -> None:
    m = machine("mov %r2, 5\nlock fetch add [%r1+0], %r2\nmov %r0, %r2\nexit")
    assert m.run((10).to_bytes(8, "little")) == 10
    assert m.mem.input_bytes() == (15).to_bytes(8, "little")


# --- the interpreter over the native runtime (bpftime.runner's interp engine) -------------

def pt_regs(**regs: int) -> bytes:
    """An x86-64 struct pt_regs with the given registers (di, si, ax, ...)."""
    order = ["r15", "r14", "r13", "r12", "bp", "bx", "r11", "r10", "r9", "r8", "ax", "cx",
             "dx", "si", "di", "orig_ax", "ip", "cs", "flags", "sp", "ss"]
    out = bytearray(8 * len(order))
    for name, value in regs.items():
        i = order.index(name)
        out[8 * i:8 * i + 8] = value.to_bytes(8, "little")
    return bytes(out)


def interp(path, prog=None, mem=None):
    """The interp engine on a loaded program, without the verifier: what the
    interpreter itself checks."""
    from bpftime.runner import InterpExecutor, load_runnable

    runnable = load_runnable(path, prog, mem)
    return InterpExecutor(runnable), runnable


def test_bpf_loop_and_native_map_update_in_an_object(bpf_object) -> None:
    ex, runnable = interp(bpf_object("loop"), mem=pt_regs(di=5))
    assert ex(runnable.mem)[0] == 0
    result = ex.maps.maps[0]
    assert int.from_bytes(result.lookup(bytes(4)), "little") == 1 + 4 + 9 + 16 + 25


def test_counter_counts_per_pid_in_a_native_hash_map(bpf_object) -> None:
    import os

    ex, runnable = interp(bpf_object("counter"), "count_target", pt_regs(di=1))
    for _ in range(3):
        ex(runnable.mem)
    calls = ex.maps.maps[0]
    assert calls.items() == [(os.getpid().to_bytes(4, "little"), (3).to_bytes(8, "little"))]


def test_ringbuf_record_is_written_and_submitted(bpf_object) -> None:
    import os

    from bpftime.runtime import RingBufferReader

    ex, runnable = interp(bpf_object("ringbuf"), mem=pt_regs(ax=(-7) & (2 ** 64 - 1)))
    reader = RingBufferReader(ex.maps.maps[0])
    ex(runnable.mem)
    (event,) = reader.poll()
    assert int.from_bytes(event[:4], "little") == os.getpid()
    assert int.from_bytes(event[4:8], "little", signed=True) == -7


@pytest.mark.parametrize("text,words", [
    ("mov %r1, 1234\nmov %r2, %r10\nadd %r2, -8\ncall bpf_map_lookup_elem\nexit",
     "instruction 3: argument 1 (r1) of bpf_map_lookup_elem is not a map"),
    ("mov %r1, %r10\nadd %r1, -16\nmov %r2, 600\nmov %r3, 0\ncall bpf_probe_read_user\nexit",
     "instruction 4: argument 1 (r1) of bpf_probe_read_user: invalid write of 600 bytes"),
    ("mov %r1, %r10\nadd %r1, -8\nmov %r2, 0\ncall bpf_ringbuf_submit\nexit",
     "argument 1 (r1) of bpf_ringbuf_submit is not a reserved ringbuf record"),
    ("mov %r1, 0\nmov %r2, 16\ncall bpf_trace_printk\nexit",
     "argument 1 (r1) of bpf_trace_printk: invalid read of 16 bytes at 0x0"),
    ("mov %r1, %r10\nadd %r1, -8\nmov %r2, 8\nmov %r3, 0\ncall bpf_strncmp\nexit",
     "instruction 4: argument 3 (r3) of bpf_strncmp: invalid read of 1 bytes at 0x0"),
])
def test_native_helper_arguments_are_checked(tmp_path, text: str, words: str) -> None:
    prog = tmp_path / "p.asm"
    prog.write_text(text)
    ex, _ = interp(prog)
    with pytest.raises(RuntimeFault) as info:
        ex(None)
    assert words in str(info.value)


def test_native_helpers_from_assembly(tmp_path) -> None:
    from bpftime.runner import execute, load_runnable

    prog = tmp_path / "p.asm"
    prog.write_text("call bpf_get_current_pid_tgid\nrsh %r0, 32\nexit")
    import os
    assert execute(load_runnable(prog)).result == os.getpid()


def test_xdp_program_sees_a_context_bounding_the_packet(bpf_object) -> None:
    ex, _ = interp(bpf_object("xdp"))
    icmp = bytes(12) + b"\x08\x00" + bytes([0x45, 0, 0, 20, 0, 0, 0, 0, 64, 1]) + bytes(10)
    assert ex(icmp)[0] == 2                      # XDP_PASS
    assert ex(icmp[:20])[0] == 2                 # too short: passes without counting
    protocols = ex.maps.maps[0]
    per_cpu = protocols.per_cpu(protocols.lookup((1).to_bytes(4, "little")))
    assert sum(int.from_bytes(v, "little") for v in per_cpu) == 1


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_random_valid_programs_end_or_fault_cleanly(prog) -> None:
    """Whatever a valid program does, the interpreter returns r0 or raises a
    RuntimeFault naming an instruction: never another exception, never a hang."""
    m = Machine(prog, Bindings(helpers=with_bpf_loop(CONFORMANCE_HELPERS)), limit=2000)
    try:
        m.run(bytes(range(64)))
    except RuntimeFault as err:
        assert 0 <= err.pc < len(prog) and "\n" not in str(err)
    assert m.executed <= 2000


def test_memory_regions_nested_removed_and_many() -> None:
    from bpftime.vm.memory import CODECS, Memory

    outer = (ctypes.c_ubyte * 64)()
    base = ctypes.addressof(outer)
    mem = Memory()
    mem.add_fixed(base, 64, False, "outer")
    mem.start(None)
    mem.add_region(base + 8, 8, True, "inner")
    u64 = CODECS[8][0]
    mem.store(base + 8, 8, u64, 7, 0)                        # the inner region is writable
    assert mem.load(base + 32, 8, u64, 0) == 0               # past inner: found in outer
    with pytest.raises(RuntimeFault, match="read-only outer"):
        mem.store(base + 32, 8, u64, 1, 3)
    mem.remove_region(mem.region_at(base + 8, "inner"))
    with pytest.raises(RuntimeFault, match="read-only outer"):
        mem.store(base + 8, 8, u64, 1, 3)
    values = [(ctypes.c_ubyte * 16)(i) for i in range(2000)]
    for v in values:
        mem.add_region(ctypes.addressof(v), 16, True, "value")
    assert [mem.load(ctypes.addressof(v), 1, CODECS[1][0], 0) for v in values] == \
        [i % 256 for i in range(2000)]


@pytest.fixture()
def prog_array():
    """(a prog_array of 4 slots in a native session, the interpreter's tail_call)."""
    require_native_images()
    from bpftime.kernel_abi import MapType
    from bpftime.runtime import Session, helper_address
    from bpftime.vm.native import MapInfo, native_helpers

    with Session.create(size=1 << 20) as session:
        progs = session.create_map("progs", MapType.PROG_ARRAY, 4, 8, 4)
        yield progs, native_helpers([12], helper_address, {progs.handle: MapInfo("progs", 4, 8)})


def tail_calling(texts: list[str], prog_array, slots: dict[int, int]) -> Machine:
    """The programs one after the other (as `bpftime run` lays out an object's
    tail-call targets); slot -> index in `texts` of the program it holds."""
    progs, helpers = prog_array
    insns, starts = [], []
    for text in texts:
        starts.append(len(insns))
        insns += assemble(text)
    for slot, index in slots.items():
        progs.update(slot.to_bytes(4, "little"), func_address(starts[index]).to_bytes(8, "little"))
    return Machine(insns, Bindings(helpers=helpers, map_handles=[progs.handle]))


def test_tail_call_miss_goes_on_and_a_hit_keeps_the_frame(prog_array) -> None:
    """A miss (empty slot, index past the end) leaves 0 in r0; the target runs in the
    caller's stack frame with r1 = ctx, and its r0 is the invocation's."""
    main = """
        stdw [%r10-8], 5
        lddw %r2, map_idx(0)
        mov %r3, 1
        mov %r0, 77
        call bpf_tail_call
        stxdw [%r10-16], %r0
        mov %r3, 9
        mov %r0, 77
        call bpf_tail_call
        stxdw [%r10-24], %r0
        mov %r3, 2
        call bpf_tail_call
        mov %r0, -1
        exit"""
    target = """
        ldxdw %r0, [%r10-8]
        ldxdw %r2, [%r10-16]
        ldxdw %r3, [%r10-24]
        add %r2, %r3
        mul %r2, 1000
        add %r0, %r2
        ldxdw %r2, [%r1+0]
        add %r0, %r2
        exit"""
    m = tail_calling([main, target], prog_array, {2: 1})
    assert m.run((100).to_bytes(8, "little")) == 5 + 100
    assert m.executed == 12 + 9  # the caller up to its third call (lddw is one), the target


def test_tail_calls_stop_after_the_kernels_limit_even_from_a_subprogram(prog_array) -> None:
    """A program tail-calling itself from a subprogram runs 1 + 33 times; each target
    returns to the subprogram's caller; the count is per invocation."""
    prog = """
        mov %r6, %r1
        ldxdw %r0, [%r1+0]
        add %r0, 1
        stxdw [%r1+0], %r0
        lddw %r2, map_idx(0)
        mov %r3, 0
        call local tail
        ldxdw %r0, [%r6+0]
        exit
    tail:
        call bpf_tail_call
        mov %r0, 0
        exit"""
    m = tail_calling([prog], prog_array, {0: 0})
    for _ in range(2):
        assert m.run(bytes(8)) == 1 + MAX_TAIL_CALLS
        assert int.from_bytes(m.mem.input_bytes(), "little") == 1 + MAX_TAIL_CALLS
