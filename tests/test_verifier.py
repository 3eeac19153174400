"""The verifier accepts safe programs and proves what it reports (bounds, memory)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from bpftime.asm import assemble
from bpftime.conformance_file import load_conformance
from bpftime.elf.loader import load_object
from bpftime.elf.model import MapDef
from bpftime.errors import VerifyError
from bpftime.kernel_abi import MapType
from bpftime.verifier import (ContextKind, context_for, default_tracing_policy, memory_policy, verify,
                              verify_program)
from bpftime.policy import EntryArg, HostVariable, ValueKind, ValueType
from conftest import CONFORMANCE, PROGRAMS
from verifier_catalogue import eim_policy

CONFORMANCE_TESTS = sorted((CONFORMANCE / "tests").glob("*.data"))
OBJECTS = sorted(p.name.removesuffix(".bpf.c") for p in PROGRAMS.glob("*.bpf.c"))
HASH = MapDef("values", MapType.HASH, 4, 8, 16)


def context_of(prog) -> ContextKind:
    return context_for(prog.attach.kind, prog.attach.function)


def run(text: str, policy=None, maps=(), externs=()):
    return verify(assemble(text), maps=list(maps), policy=policy or default_tracing_policy(),
                  externs=list(externs))


@pytest.mark.parametrize("path", CONFORMANCE_TESTS, ids=lambda p: p.stem)
def test_conformance_program_is_accepted(path):
    case = load_conformance(path)
    result = verify(case.insns, maps=[], policy=memory_policy(len(case.mem or b"")), name=path.stem)
    assert result.max_instructions >= 1


def test_conformance_error_returning_frame_pointer_is_refused():
    case = load_conformance(CONFORMANCE / "negative" / "error.data")
    with pytest.raises(VerifyError):
        verify(case.insns, maps=[], policy=memory_policy(0))
    # with r0 initialized the same `or` of r10 is still refused: it leaks the stack address
    with pytest.raises(VerifyError, match="pointer"):
        run("mov %r0, 0\nor %r0, %r10\nexit", memory_policy(0))


def externs_policy():
    """The class tests/programs/externs.bpf.c is written for: host_time, host_copy into
    the extension's memory from the entry's `buf` argument (readable, 8 bytes) and
    host_pid; host_optional is weak and not granted."""
    base = eim_policy()
    copy = base.functions["host_copy"]
    copy = replace(copy, constraints=tuple(c for c in copy.constraints if c.text != "ret == dst"))
    buf = EntryArg(0, "buf", ValueType(ValueKind.PTR, 8), read=True)
    return replace(base, functions={"host_time": base.functions["host_time"], "host_copy": copy},
                   variables={"host_pid": HostVariable("readPid", "host_pid", 4, False)},
                   entry_args=(buf,))


@pytest.mark.parametrize("name", OBJECTS)
def test_realistic_object_is_accepted(bpf_object, name):
    obj = load_object(bpf_object(name))
    for prog in obj.programs:
        policy = externs_policy() if obj.externs else default_tracing_policy(context_of(prog))
        result = verify_program(prog, obj, policy)
        assert result.processed > 0


def test_division_by_zero_is_accepted():
    run("ldxdw %r2, [%r1+112]\nmov %r0, 7\ndiv %r0, %r2\nmod %r0, %r2\ndiv %r0, 0\nexit")


def test_bounded_loop_bound_is_the_trip_count():
    result = run("mov %r0, 0\nmov %r2, 0\nloop:\nadd %r0, %r2\nadd %r2, 1\njlt %r2, 100, loop\nexit")
    assert result.max_instructions == 2 + 3 * 100 + 1


def test_bound_takes_the_longest_branch():
    result = run("ldxdw %r2, [%r1+112]\njeq %r2, 0, short\nmov %r0, 1\nmov %r0, 2\nmov %r0, 3\n"
                 "exit\nshort:\nmov %r0, 0\nexit")
    assert result.max_instructions == 6


def test_pruned_paths_still_count_in_the_bound():
    # 10 independent diamonds: 2^10 paths, explored linearly thanks to pruning
    body = "".join(f"ldxdw %r2, [%r1+{8 * (i % 21)}]\njeq %r2, 0, l{i}\nmov %r3, 1\nmov %r3, 2\nl{i}:\n"
                   for i in range(10))
    result = run(body + "mov %r0, 0\nexit")
    assert result.max_instructions == 10 * 4 + 2
    assert result.processed < 200


def test_null_checked_lookup_and_update_are_accepted():
    result = run("stw [%r10-4], 0\nmov %r2, %r10\nadd %r2, -4\nlddw %r1, map_idx(0)\n"
                 "call bpf_map_lookup_elem\njeq %r0, 0, out\nldxdw %r1, [%r0]\nadd %r1, 1\n"
                 "stxdw [%r0], %r1\nout:\nmov %r0, 0\nexit", maps=[HASH])
    assert result.map_bytes == (4 + 8) * 16
    assert result.stack_depth == 8   # rounded up to 8 bytes
    assert result.memory == result.map_bytes + result.stack_depth


def test_ringbuf_reserve_submit_is_accepted():
    rb = MapDef("events", MapType.RINGBUF, 0, 0, 4096)
    run("lddw %r1, map_idx(0)\nmov %r2, 16\nmov %r3, 0\ncall bpf_ringbuf_reserve\n"
        "jeq %r0, 0, out\nstdw [%r0+8], 1\nmov %r1, %r0\nmov %r2, 0\ncall bpf_ringbuf_submit\n"
        "out:\nmov %r0, 0\nexit", maps=[rb])


def test_packet_access_after_data_end_check_is_accepted():
    run("ldxw %r2, [%r1+0]\nldxw %r3, [%r1+4]\nmov %r4, %r2\nadd %r4, 14\njgt %r4, %r3, out\n"
        "ldxh %r0, [%r2+12]\nexit\nout:\nmov %r0, 2\nexit", default_tracing_policy(ContextKind.XDP))


def test_eim_grants_are_usable_when_respected():
    policy = eim_policy()
    # write the granted field of `resp`, read `req`, call host_copy within its constraints
    run("ldxdw %r6, [%r1+104]\nstw [%r6+8], 1\nldxdw %r7, [%r1+112]\nldxdw %r0, [%r7+8]\n"
        "ldxdw %r3, [%r1+96]\nand %r3, 63\nadd %r3, 1\nstdw [%r10-64], 0\n"
        + "".join(f"stdw [%r10-{8 * i}], 0\n" for i in range(1, 8))
        + "mov %r1, %r10\nadd %r1, -128\nmov %r2, %r10\nadd %r2, -64\ncall kfunc 0\n"
        "ldxb %r0, [%r0+0]\nmov %r0, 0\nexit", policy, externs=["host_copy"])


def test_alloc_checked_and_freed_is_accepted():
    run("mov %r1, 16\ncall kfunc 0\njeq %r0, 0, out\nstb [%r0+15], 1\nmov %r1, %r0\n"
        "call kfunc 1\nout:\nmov %r0, 0\nexit", eim_policy(), externs=["host_alloc", "host_free"])


def test_bpf_loop_bound_multiplies_the_callback():
    result = run("mov %r1, 10\nlddw %r2, func(cb)\nmov %r3, 0\nmov %r4, 0\ncall bpf_loop\n"
                 "mov %r0, 0\nexit\ncb:\nmov %r0, 0\nexit")
    assert result.max_instructions == 7 + 10 * 2


def test_message_names_source_line_from_btf(bpf_object, tmp_path):
    obj = load_object(bpf_object("counter"))
    prog = obj.programs[0]
    # the same program under a class that grants no helper: refused at its first call
    policy = replace(default_tracing_policy(), helpers=frozenset(), class_name="nohelpers")
    with pytest.raises(VerifyError) as info:
        verify_program(prog, obj, policy)
    message = str(info.value)
    assert "counter.bpf.c:" in message and "not granted to class nohelpers" in message
    assert message.startswith(prog.name + ": instruction ")


def test_verbose_log_shows_the_walk():
    lines: list[str] = []
    verify(assemble("ldxdw %r2, [%r1+112]\njeq %r2, 0, z\nmov %r0, 1\nexit\nz:\nmov %r0, 0\nexit"),
           maps=[], policy=default_tracing_policy(), log=lines.append)
    assert any(line.startswith("0: ldxdw %r2, [%r1+112]") for line in lines)
    assert any(line.startswith("from 1 to 4:") for line in lines)


def test_instruction_limit_respected_when_met():
    policy = replace(eim_policy(), max_instructions=3 * 100 + 3)
    run("mov %r0, 0\nmov %r2, 0\nloop:\nadd %r0, %r2\nadd %r2, 1\njlt %r2, 100, loop\nexit", policy)


def test_signed_precondition_proved_from_signed_bounds():
    run("ldxdw %r1, [%r1+96]\nand %r1, 0xff\ncall kfunc 0\nmov %r0, 0\nexit",
        eim_policy(), externs=["host_adjust"])


def test_loop_counter_kept_in_a_4_byte_stack_slot():
    result = run("stw [%r10-4], 0\nl:\nldxw %r1, [%r10-4]\nadd %r1, 1\nstxw [%r10-4], %r1\n"
                 "jlt %r1, 10, l\nmov %r0, 0\nexit")
    assert result.max_instructions == 1 + 10 * 4 + 2


def test_counters_that_only_feed_the_result_do_not_multiply_states():
    # each iteration may or may not bump r7; r7 only reaches r0, so states at the loop
    # head differ in nothing that matters and the walk stays linear in the trip count
    result = run("ldxdw %r6, [%r1+112]\nmov %r7, 0\nmov %r2, 0\nl:\nmov %r3, %r6\nrsh %r3, %r2\n"
                 "and %r3, 1\njeq %r3, 0, skip\nadd %r7, 1\nskip:\nadd %r2, 1\njlt %r2, 60, l\n"
                 "mov %r0, %r7\nexit")
    assert result.processed < 60 * 8 * 2
    assert result.max_instructions == 3 + 60 * 7 + 2   # 7 with the bump, 6 without


def test_tail_call_falls_through_when_the_slot_is_empty():
    jumps = MapDef("jumps", MapType.PROG_ARRAY, 4, 4, 4)
    result = run("lddw %r2, map_idx(0)\nmov %r3, 1\ncall bpf_tail_call\nmov %r0, 0\nexit",
                 maps=[jumps])
    assert result.max_instructions == 5   # lddw is one instruction


def test_pointer_used_as_a_number_is_unknown_when_leaks_are_allowed():
    # the stack's address is not its offset: both outcomes of the comparison remain
    policy = replace(default_tracing_policy(), allow_pointer_leak=True)
    result = run("mov32 %r1, %r10\njeq %r1, 0, z\nmov %r0, 1\nexit\nz:\nmov %r0, 2\nmov %r0, 3\n"
                 "exit", policy)
    assert result.max_instructions == 5


def test_trace_printk_without_format_arguments_is_accepted():
    # bpf_printk("hello") leaves r3-r5 unset; like the kernel, only the format and its size
    # are checked (the helper reads the others only where the format asks, and safely)
    run("""
        mov %r1, 0x6f6c6c65
        stxw [%r10-8], %r1
        stb [%r10-4], 0
        mov %r1, %r10
        add %r1, -8
        mov %r2, 5
        call 6
        mov %r0, 0
        exit""")
