"""Program images (link tables, serialisation), load-time refusals, tail calls through
a prog_array of the native runtime, and the XDP context rewrite."""
from __future__ import annotations

import ctypes

import pytest

from bpftime.asm import assemble
from bpftime.errors import BpftimeError, LoadError
from bpftime.jit.codegen import compile_program
from bpftime.jit.errors import CompileError, LinkError
from bpftime.isa import MAX_TAIL_CALLS
from bpftime.jit.image import ProgramImage, Slot, SlotKind
from bpftime.jit.loader import LoadedImage, Resolver, slot_values
from bpftime.jit.xdp import XdpContext, rewrite_xdp_context
from bpftime.kernel_abi import MapType, helper_id
from jit_support import require_native_images

LINKED = """
lddw %r1, map_idx(2)
lddw %r2, map_idx_value(0, 16)
lddw %r3, btf_id(1)
call bpf_ktime_get_ns
call kfunc 4
lddw %r4, map_idx(2)
exit
"""


def test_slots_say_what_fills_them_and_are_shared() -> None:
    image = compile_program(assemble(LINKED))
    assert image.slots == [Slot(SlotKind.MAP, 2), Slot(SlotKind.MAP_VALUE, 0, 16),
                           Slot(SlotKind.EXTERN_VAR, 1), Slot(SlotKind.HELPER, helper_id("ktime_get_ns")),
                           Slot(SlotKind.EXTERN_FUNC, 4)]
    assert image.first_use == [0, 2, 4, 6, 7]
    assert image.slots_offset % 8 == 0 and image.slots_offset >= len(image.code)
    assert image.size == image.slots_offset + 8 * len(image.slots)


def test_image_serialisation_round_trips() -> None:
    image = compile_program(assemble("mov %r1, 1\ncall local f\nexit\nf:\nmov %r0, %r1\nexit"))
    image.slots.append(Slot(SlotKind.HELPER, 1))
    again = ProgramImage.from_bytes(image.to_bytes())
    assert (again.code, again.slots, again.entry_offset, again.subprog_offsets) == \
        (image.code, image.slots, image.entry_offset, image.subprog_offsets)
    assert len(image.subprog_offsets) == 1 and 0 < image.subprog_offsets[0] < len(image.code)


@pytest.mark.parametrize("data,match", [
    (b"junk", "bad magic"),
    (b"BPFTIMG1" + bytes(16), "outside its 0 bytes of code"),
    (ProgramImage(b"\xc3", [], entry_offset=1).to_bytes(), "outside its 1 bytes"),
    (ProgramImage(b"\xc3", [Slot(SlotKind.MAP, 0)]).to_bytes()[:-1], "header says"),
])
def test_bad_image_bytes_are_refused(data: bytes, match: str) -> None:
    with pytest.raises(LoadError, match=match):
        ProgramImage.from_bytes(data)


@pytest.mark.parametrize("text,index,reason", [
    ("mov %r0, 0\nldabsw 12\nexit", 1, "legacy packet access"),
    ("mov %r10, 0\nexit", 0, "r10 (the frame pointer) is read-only"),
    ("mov %r0, 0\njeq %r0, 0, -2", 1, "falls off the end of the program"),
    ("mov %r2, %r1\ncall %r2\nexit", 1, "callx: r2 does not hold a known helper id"),
    ("call local f\nexit\nf:\nja +1\nmov %r0, 1\nexit", 3, None),
    ("mov %r0, 0\ncall local f\nexit\nf:\nja -4", 3, "jump to 0 leaves the function starting at 3"),
    ("lddw %r1, map_fd(3)\nexit", 0, "raw map fd"),
])
def test_what_cannot_be_compiled_is_refused_with_its_index(text, index, reason) -> None:
    insns = assemble(text)
    if reason is None:  # a valid program: compiles
        compile_program(insns)
        return
    with pytest.raises(CompileError) as info:
        compile_program(insns)
    assert info.value.index == index and reason in info.value.reason
    assert str(info.value).startswith(f"instruction {index}: ") and "\n" not in str(info.value)


def test_helper_the_runtime_lacks_is_refused_at_compile_time() -> None:
    insns = assemble("mov %r1, 1\ncall 7\ncall 999\nexit")
    with pytest.raises(CompileError, match=r"instruction 2: helper#999 \(id 999\) is not provided"):
        compile_program(insns, helper_available=lambda i: i == 7)


def test_unfillable_slot_is_a_link_error_naming_the_instruction() -> None:
    image = compile_program(assemble(LINKED))
    with pytest.raises(LinkError, match=r"instruction 0: map 2 is not available"):
        slot_values(image, Resolver(helper=lambda i: 0x1000, maps=[1, 2]))
    values = slot_values(image, Resolver(helper=lambda i: 0x1000, maps=[0, 0, 0x2000],
                                         map_values=[0x3000], externs=[0, 0x4000, 0, 0, 0x5000]))
    assert values == [0x2000, 0x3010, 0x4000, 0x1000, 0x5000]


# --- running ---------------------------------------------------------------------------
@pytest.fixture()
def native():
    require_native_images()
    from bpftime.runtime import Session, helper_address
    with Session.create(size=1 << 20) as session:
        yield session, helper_address


def load(text: str, native, maps=()) -> LoadedImage:
    _, helper_address = native
    image = compile_program(assemble(text))
    return LoadedImage(image, slot_values(image, Resolver(helper=helper_address, maps=list(maps))))


def test_tail_calls_enter_the_target_and_fall_through_when_empty(native) -> None:
    session, _ = native
    progs = session.create_map("progs", MapType.PROG_ARRAY, 4, 8, 3)
    target = load("ldxdw %r0, [%r1]\nadd %r0, 40\nexit", native)
    caller = load("""
        ldxdw %r3, [%r1+8]
        lddw %r2, map_idx(0)
        call bpf_tail_call
        mov %r0, 7
        exit""", native, [progs.handle])
    progs.update((0).to_bytes(4, "little"), target.entry.to_bytes(8, "little"))
    with target, caller:
        for index, expected in [(0, 2 + 40), (1, 7), (5, 7)]:  # filled, empty, out of range
            buf = (ctypes.c_uint64 * 2)(2, index)
            assert caller(ctypes.addressof(buf), 16) == expected


def test_tail_calls_stop_after_the_kernels_limit(native) -> None:
    """A program tail-calling itself runs 1 + 33 times, then falls through."""
    session, _ = native
    progs = session.create_map("self", MapType.PROG_ARRAY, 4, 8, 1)
    prog = load("""
        mov %r6, %r1
        ldxdw %r0, [%r1]
        add %r0, 1
        stxdw [%r1], %r0
        lddw %r2, map_idx(0)
        mov %r3, 0
        call local tail
        ldxdw %r0, [%r6]
        exit
    tail:
        call bpf_tail_call
        mov %r0, 0
        exit""", native, [progs.handle])
    progs.update(bytes(4), prog.entry.to_bytes(8, "little"))
    with prog:
        for _ in range(2):  # the count is per invocation
            counter = ctypes.c_uint64(0)
            assert prog(ctypes.addressof(counter), 8) == 1 + MAX_TAIL_CALLS


def test_a_tail_call_through_callx_gets_the_tail_call_frame(native) -> None:
    """`call %reg` holding bpf_tail_call's id is a tail call like `call bpf_tail_call`:
    the program needs the frame slots of the tail-call count."""
    session, _ = native
    progs = session.create_map("progs_x", MapType.PROG_ARRAY, 4, 8, 1)
    target = load("mov %r0, 40\nexit", native)
    caller = load(f"""
        lddw %r2, map_idx(0)
        mov %r3, 0
        mov %r5, {helper_id('tail_call')}
        call %r5
        mov %r0, 7
        exit""", native, [progs.handle])
    with target, caller:
        assert caller(0, 0) == 7
        progs.update(bytes(4), target.entry.to_bytes(8, "little"))
        assert caller(0, 0) == 40
    again = load(f"""
        ldxdw %r0, [%r1]
        add %r0, 1
        stxdw [%r1], %r0
        lddw %r2, map_idx(1)
        mov %r3, 0
        mov %r5, {helper_id('tail_call')}
        call %r5
        mov %r0, 0
        exit""", native, [progs.handle, session.create_map("self_x", MapType.PROG_ARRAY, 4, 8, 1).handle])
    with again:
        session.map("self_x").update(bytes(4), again.entry.to_bytes(8, "little"))
        counter = ctypes.c_uint64(0)
        again(ctypes.addressof(counter), 8)
        assert counter.value == 1 + MAX_TAIL_CALLS


def test_xdp_context_loads_become_pointer_loads(native) -> None:
    insns = rewrite_xdp_context(assemble("""
        mov %r6, %r1
        stxdw [%r10-8], %r6
        ldxdw %r7, [%r10-8]
        ldxw %r2, [%r7+0]
        ldxw %r3, [%r6+4]
        ldxw %r4, [%r1+12]
        mov %r0, %r3
        sub %r0, %r2
        ldxb %r5, [%r2+1]
        lsh %r5, 16
        add %r0, %r5
        add %r0, %r4
        exit"""))
    packet = (ctypes.c_ubyte * 5)(9, 8, 7, 6, 5)
    start = ctypes.addressof(packet)
    ctx = XdpContext(data=start, data_end=start + 5, data_meta=start, ingress_ifindex=0x1000)
    with LoadedImage(compile_program(insns), []) as prog:
        assert prog(ctypes.addressof(ctx), 0) == 5 + (8 << 16) + 0x1000


@pytest.mark.parametrize("text,reason", [
    ("stw [%r1+0], 1\nexit", "read-only"),
    ("add %r1, 4\nldxw %r0, [%r1+0]\nexit", "modified context pointer"),
    ("jeq %r2, 0, +1\nmov %r1, %r10\nldxw %r0, [%r1-4]\nexit", "on some paths only"),
    ("ldxdw %r0, [%r1+0]\nexit", "offset 0, size 8"),
    ("ldxw %r0, [%r1+24]\nexit", "offset 24"),
])
def test_xdp_context_misuse_is_refused(text: str, reason: str) -> None:
    with pytest.raises(CompileError, match=reason):
        rewrite_xdp_context(assemble(text))


def test_image_maps_fail_cleanly_without_code() -> None:
    require_native_images()
    with pytest.raises(BpftimeError, match="cannot map"):
        LoadedImage(ProgramImage(b"", []), [])


@pytest.mark.parametrize("with_tail_call", [False, True])
def test_bpf_loop_calls_a_subprogram_from_native_code(native, with_tail_call) -> None:
    """The runtime's bpf_loop calls the callback's address (lddw func) as a System V
    function; with tail calls in the program the callback starts its own count."""
    tail = "lddw %r2, map_idx(0)\nmov %r3, 0\ncall bpf_tail_call\n" if with_tail_call else ""
    session, _ = native
    progs = session.create_map("loop_progs", MapType.PROG_ARRAY, 4, 8, 1)
    prog = load(f"""
        stdw [%r10-8], 0
        mov %r1, 10
        lddw %r2, func(cb)
        mov %r3, %r10
        add %r3, -8
        mov %r4, 0
        call bpf_loop
        ldxdw %r0, [%r10-8]
        exit
    cb:
        ldxdw %r3, [%r2]
        add %r3, %r1
        stxdw [%r2], %r3
        {tail}mov %r0, 0
        exit""", native, [progs.handle])
    with prog:
        assert prog(0, 0) == sum(range(10))


def test_a_wrong_size_bound_falls_back_to_long_jumps(native, monkeypatch) -> None:
    """Forward rel8 jumps rely on codegen.max_size; were it too small, compiling
    still succeeds (with rel32 jumps) and the program is right."""
    from bpftime.jit import codegen

    from bpftime.jit import x86

    insns = assemble("mov %r0, 1\njeq %r1, 0, +40\n" + "div %r0, %r2\n" * 40 + "exit")
    normal = compile_program(insns)
    monkeypatch.setattr(codegen, "max_size", lambda insn: 1)
    with pytest.raises(x86.ShortJumpOverflow):  # the jeq would be emitted as rel8
        codegen._Codegen(insns, codegen.analyse(insns), None, forward_short=True).build()
    safe = compile_program(insns)
    assert safe.code == normal.code
    with LoadedImage(safe, []) as prog:
        assert prog(0, 0) == 1
