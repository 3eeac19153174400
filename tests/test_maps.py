"""Maps of the native runtime, through bpftime.runtime: the kernel's semantics per map
type (flags, error codes, orders), as a program (helpers) and as user space sees them."""
from __future__ import annotations

import ctypes
import errno
import os
import struct

import pytest
from hypothesis import given, settings, strategies as st

from bpftime.errors import LoadError
from bpftime.kernel_abi import BPF_ANY, BPF_EXIST, BPF_NOEXIST, MapType, helper_id
from bpftime.runtime import MapOpError, PerfEventReader, RingBufferReader, Session, helper_address

U64 = ctypes.c_uint64
HELPER = ctypes.CFUNCTYPE(U64, U64, U64, U64, U64, U64)


def helper(name: str):
    fn = HELPER(helper_address(helper_id(name)))

    def call(*args: int) -> int:
        raw = fn(*(list(args) + [0] * (5 - len(args))))
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    return call


def u32(v: int) -> bytes:
    return struct.pack("<I", v)


def u64(v: int) -> bytes:
    return struct.pack("<Q", v)


def buf(data: bytes) -> ctypes.Array:
    return ctypes.create_string_buffer(data, max(1, len(data)))


def addr(b: ctypes.Array) -> int:
    return ctypes.addressof(b)


@pytest.fixture
def session():
    with Session.create(size=16 << 20) as s:
        yield s


# --- creation ---------------------------------------------------------------------
@pytest.mark.parametrize("args, reason", [
    ((MapType.HASH, 4, 8, 0), "max_entries is 0"),
    ((MapType.ARRAY, 8, 8, 4), "key size must be 4"),
    ((MapType.HASH, 4, 0, 4), "value size is 0"),
    ((MapType.HASH, 4, 2 << 20, 4), "value size is larger than 1 MiB"),
    ((MapType.PERCPU_ARRAY, 4, 64 << 10, 4), "per-CPU value size is larger than 32 KiB"),
    ((MapType.RINGBUF, 0, 0, 5000), "power of 2"),
    ((MapType.QUEUE, 4, 8, 4), "key size must be 0"),
    ((MapType.SOCKMAP, 4, 4, 4), "not supported"),
])
def test_create_refuses_what_the_runtime_cannot_create(session, args, reason):
    with pytest.raises(LoadError, match=reason) as info:
        session.create_map("bad", *args)
    assert str(info.value).startswith(f"map bad ({args[0]}): ")


def test_create_refuses_a_duplicate_name_and_a_full_session():
    with Session.create(size=1 << 20) as s:
        s.create_map("m", MapType.ARRAY, 4, 8, 4)
        with pytest.raises(LoadError, match="exists"):
            s.create_map("m", MapType.ARRAY, 4, 8, 4)
        with pytest.raises(LoadError, match="no room"):
            s.create_map("big", MapType.ARRAY, 4, 1024, 4096)


def test_create_from_a_definition_with_global_data(session):
    class Def:
        name, type, key_size, value_size, max_entries, flags = ".data", MapType.ARRAY, 4, 16, 1, 0
        initial = b"hello"
    m = session.create_map_from(Def())
    assert m.lookup(u32(0)) == b"hello".ljust(16, b"\0")
    address = m.value_address(u32(0))
    assert ctypes.string_at(address, 5) == b"hello"


# --- array ------------------------------------------------------------------------
def test_array_semantics(session):
    m = session.create_map("arr", MapType.ARRAY, 4, 12, 3)
    assert m.lookup(u32(1)) == bytes(12)           # every slot exists, zeroed
    m.update(u32(1), b"x" * 12)
    m.update(u32(1), b"y" * 12, BPF_EXIST)
    assert m.lookup(u32(1)) == b"y" * 12
    assert m.lookup(u32(3)) is None                 # out of range
    for flags, code in ((BPF_NOEXIST, errno.EEXIST), (7, errno.EINVAL)):
        with pytest.raises(MapOpError) as info:
            m.update(u32(0), bytes(12), flags)
        assert info.value.errno == code
    with pytest.raises(MapOpError) as info:
        m.update(u32(3), bytes(12))
    assert info.value.errno == errno.E2BIG
    with pytest.raises(MapOpError) as info:
        m.delete(u32(0))
    assert info.value.errno == errno.EINVAL
    assert [k for k in m.keys()] == [u32(0), u32(1), u32(2)]
    # the JIT's inline layout: value i at handle + 256 + i * value_stride
    assert ctypes.string_at(m.handle + 256 + 1 * 16, 12) == b"y" * 12
    lookup = helper("map_lookup_elem")
    key = buf(u32(1))
    assert lookup(m.handle, addr(key)) == m.handle + 256 + 16


def test_percpu_array_keeps_a_copy_per_cpu(session):
    m = session.create_map("pc", MapType.PERCPU_ARRAY, 4, 4, 2)
    assert m.value_bytes == 8 * m.ncpus
    values = b"".join(u64(100 + c) for c in range(m.ncpus))
    m.update(u32(1), values)
    assert [struct.unpack("<I", v)[0] for v in m.per_cpu(m.lookup(u32(1)))] == \
        [100 + c for c in range(m.ncpus)]
    # a program's update writes this CPU's copy only
    update = helper("map_update_elem")
    cpu = helper("get_smp_processor_id")()
    key, value = buf(u32(0)), buf(u32(7))
    assert update(m.handle, addr(key), addr(value), BPF_ANY) == 0
    copies = m.per_cpu(m.lookup(u32(0)))
    assert copies[cpu % m.ncpus] == u32(7)
    assert sum(c == u32(7) for c in copies) == 1


def test_prog_array_holds_entry_addresses_for_tail_calls(session):
    m = session.create_map("jmp", MapType.PROG_ARRAY, 4, 4, 4)
    m.update(u32(2), u64(0x1234_5678_9abc))
    assert ctypes.c_uint64.from_address(m.handle + 256 + 16).value == 0x1234_5678_9abc
    tail = helper("tail_call")
    assert tail(0, m.handle, 2) == 0x1234_5678_9abc
    assert tail(0, m.handle, 1) == 0 and tail(0, m.handle, 9) == 0
    m.delete(u32(2))
    assert tail(0, m.handle, 2) == 0
    assert helper("map_lookup_elem")(m.handle, addr(buf(u32(2)))) == 0


# --- hash -------------------------------------------------------------------------
def test_hash_flags_and_errors(session):
    m = session.create_map("h", MapType.HASH, 8, 8, 2)
    m.update(u64(1), u64(10), BPF_NOEXIST)
    with pytest.raises(MapOpError) as info:
        m.update(u64(1), u64(11), BPF_NOEXIST)
    assert info.value.errno == errno.EEXIST
    with pytest.raises(MapOpError) as info:
        m.update(u64(2), u64(20), BPF_EXIST)
    assert info.value.errno == errno.ENOENT
    m.update(u64(1), u64(12), BPF_EXIST)
    m.update(u64(2), u64(20))
    with pytest.raises(MapOpError) as info:            # full: max_entries 2
        m.update(u64(3), u64(30))
    assert info.value.errno == errno.E2BIG
    m.update(u64(2), u64(21))                           # replacing works when full
    assert dict(m.items()) == {u64(1): u64(12), u64(2): u64(21)}
    m.delete(u64(1))
    with pytest.raises(MapOpError) as info:
        m.delete(u64(1))
    assert info.value.errno == errno.ENOENT
    m.update(u64(3), u64(30))                           # the freed element is reused
    assert sorted(m.keys()) == [u64(2), u64(3)]


def test_hash_helpers_return_a_value_pointer_programs_write_through(session):
    m = session.create_map("h", MapType.HASH, 4, 8, 8)
    lookup, update, delete = helper("map_lookup_elem"), helper("map_update_elem"), helper("map_delete_elem")
    key, value = buf(u32(5)), buf(u64(1))
    assert lookup(m.handle, addr(key)) == 0
    assert update(m.handle, addr(key), addr(value), BPF_NOEXIST) == 0
    assert update(m.handle, addr(key), addr(value), BPF_NOEXIST) == -errno.EEXIST
    p = lookup(m.handle, addr(key))
    ctypes.c_uint64.from_address(p).value += 41
    assert m.lookup(u32(5)) == u64(42)
    assert delete(m.handle, addr(key)) == 0
    assert delete(m.handle, addr(key)) == -errno.ENOENT


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["update", "delete", "noexist", "exist"]),
                          st.integers(0, 20), st.integers(0, 2**64 - 1)), max_size=60))
def test_hash_agrees_with_a_dict(ops):
    with Session.create(size=4 << 20) as s:
        m = s.create_map("h", MapType.HASH, 4, 8, 12)
        model: dict[int, int] = {}
        for op, k, v in ops:
            flags = {"update": BPF_ANY, "noexist": BPF_NOEXIST, "exist": BPF_EXIST}.get(op)
            expect: int | None = None
            if op == "delete":
                expect = None if k in model else errno.ENOENT
                if k in model:
                    del model[k]
            elif flags == BPF_NOEXIST and k in model:
                expect = errno.EEXIST
            elif flags == BPF_EXIST and k not in model:
                expect = errno.ENOENT
            elif k not in model and len(model) == 12:
                expect = errno.E2BIG
            else:
                model[k] = v
            try:
                m.delete(u32(k)) if op == "delete" else m.update(u32(k), u64(v), flags)
                got = None
            except MapOpError as err:
                got = err.errno
            assert got == expect
        assert {struct.unpack("<I", k)[0]: struct.unpack("<Q", v)[0] for k, v in m.items()} == model


def test_percpu_hash_program_update_sets_one_copy(session):
    m = session.create_map("ph", MapType.PERCPU_HASH, 4, 8, 4)
    update, lookup = helper("map_update_elem"), helper("map_lookup_elem")
    cpu = helper("get_smp_processor_id")() % m.ncpus
    key, value = buf(u32(1)), buf(u64(9))
    assert update(m.handle, addr(key), addr(value), BPF_ANY) == 0
    copies = m.per_cpu(m.lookup(u32(1)))
    assert copies[cpu] == u64(9) and sum(c == u64(9) for c in copies) == 1
    assert lookup(m.handle, addr(key)) == m.value_address(u32(1)) + cpu * 8


def test_lru_hash_evicts_the_least_recently_used(session):
    m = session.create_map("lru", MapType.LRU_HASH, 4, 4, 3)
    lookup = helper("map_lookup_elem")
    for k in (1, 2, 3):
        m.update(u32(k), u32(k * 10))
    assert lookup(m.handle, addr(buf(u32(1)))) != 0     # 1 used again: 2 is now oldest
    m.update(u32(4), u32(40))
    assert sorted(m.keys()) == [u32(1), u32(3), u32(4)]
    m.update(u32(3), u32(31))                            # an update is a use too
    m.update(u32(5), u32(50))                            # evicts 1
    assert sorted(m.keys()) == [u32(3), u32(4), u32(5)]
    assert m.lookup(u32(4)) == u32(40)                   # user lookups do not count
    m.update(u32(6), u32(60))                            # evicts 4
    assert sorted(m.keys()) == [u32(3), u32(5), u32(6)]
    m.delete(u32(5))
    m.update(u32(7), u32(70))                            # free element: no eviction
    assert sorted(m.keys()) == [u32(3), u32(6), u32(7)]


# --- queue / stack / bloom / lpm / stack_trace ------------------------------------
def test_queue_and_stack_order_and_overflow(session):
    q = session.create_map("q", MapType.QUEUE, 0, 4, 3)
    s = session.create_map("s", MapType.STACK, 0, 4, 3)
    for m in (q, s):
        for v in (1, 2, 3):
            m.push(u32(v))
        with pytest.raises(MapOpError) as info:
            m.push(u32(4))
        assert info.value.errno == errno.E2BIG
        m.push(u32(4), BPF_EXIST)                        # drops the oldest (1)
    assert [q.pop() for _ in range(4)] == [u32(2), u32(3), u32(4), None]
    assert s.peek() == u32(4)
    assert [s.pop() for _ in range(4)] == [u32(4), u32(3), u32(2), None]
    push, pop, peek = helper("map_push_elem"), helper("map_pop_elem"), helper("map_peek_elem")
    out = buf(bytes(4))
    assert pop(q.handle, addr(out)) == -errno.ENOENT
    assert push(q.handle, addr(buf(u32(8))), 0) == 0
    assert push(q.handle, addr(buf(u32(9))), 0) == 0
    assert peek(q.handle, addr(out)) == 0 and out.raw == u32(8)
    assert pop(q.handle, addr(out)) == 0 and out.raw == u32(8)


def test_bloom_filter_has_no_false_negatives(session):
    m = session.create_map("bf", MapType.BLOOM_FILTER, 0, 8, 100)
    for v in range(0, 200, 2):
        m.push(u64(v))
    assert all(m.contains(u64(v)) for v in range(0, 200, 2))
    false_positives = sum(m.contains(u64(v)) for v in range(1, 2000, 2))
    assert false_positives < 100
    peek = helper("map_peek_elem")
    assert peek(m.handle, addr(buf(u64(4)))) == 0


def test_lpm_trie_matches_the_longest_prefix(session):
    m = session.create_map("lpm", MapType.LPM_TRIE, 8, 4, 8, flags=1)

    def key(plen: int, ip: str) -> bytes:
        return u32(plen) + bytes(int(x) for x in ip.split("."))
    m.update(key(8, "10.0.0.0"), u32(8))
    m.update(key(16, "10.1.0.0"), u32(16))
    m.update(key(24, "10.1.2.0"), u32(24))
    assert m.lookup(key(32, "10.1.2.3")) == u32(24)
    assert m.lookup(key(32, "10.1.3.3")) == u32(16)
    assert m.lookup(key(32, "10.9.9.9")) == u32(8)
    assert m.lookup(key(32, "11.0.0.0")) is None
    m.delete(key(24, "10.1.2.0"))
    assert m.lookup(key(32, "10.1.2.3")) == u32(16)
    with pytest.raises(MapOpError):
        m.update(key(33, "10.0.0.0"), u32(1))


def test_stack_trace_ids_and_values(session):
    m = session.create_map("st", MapType.STACK_TRACE, 4, 8 * 8, 16)
    get_stackid = helper("get_stackid")
    sid = get_stackid(0, m.handle, 1 << 8)
    assert sid >= 0
    ips = struct.unpack("<8Q", m.lookup(u32(sid)))
    assert ips[0] != 0 and all(ip == 0 for ip in ips[1:])   # no hit registers: the caller only
    assert get_stackid(0, m.handle, 1 << 8) == sid          # same stack, same id
    assert get_stackid(0, m.handle, 1 << 20) == -errno.EINVAL


# --- ring buffer / perf -----------------------------------------------------------
def test_ringbuf_records_wrap_around_and_drops_are_counted(session):
    m = session.create_map("rb", MapType.RINGBUF, 0, 0, 4096)
    reader = RingBufferReader(m)
    output = helper("ringbuf_output")
    sent = []
    for i in range(300):                                  # 300 * 40 bytes: wraps 3 times
        data = bytes([i % 256]) * (25 + i % 7)
        assert output(m.handle, addr(buf(data)), len(data), 0) == 0
        sent.append(data)
        if i % 50 == 49:
            assert reader.poll() == sent
            sent.clear()
    assert reader.poll() == sent
    assert reader.dropped == 0
    big = bytes(1000)
    results = [output(m.handle, addr(buf(big)), len(big), 0) for _ in range(5)]
    assert results == [0, 0, 0, 0, -errno.EAGAIN]          # 4 * 1008 fit in 4096, the 5th not
    assert reader.dropped == 1
    assert len(reader.poll()) == 4


def test_ringbuf_reserve_submit_discard_query(session):
    m = session.create_map("rb", MapType.RINGBUF, 0, 0, 8192)
    reserve, submit, discard, query = (helper(n) for n in
                                       ("ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "ringbuf_query"))
    a = reserve(m.handle, 16, 0)
    b = reserve(m.handle, 8, 0)
    assert a and b
    # the kernel's record header: u32 len with BUSY (bit 31) while reserved, u32 page offset
    assert ctypes.c_uint32.from_address(a - 8).value == 16 | (1 << 31)
    ctypes.memmove(b, b"second!!", 8)
    submit(b, 0)
    reader = RingBufferReader(m)
    assert reader.poll() == []                            # a is still busy: b waits behind it
    ctypes.memmove(a, b"first", 5)
    discard(a, 0)
    assert reader.poll() == [b"second!!"]
    assert query(m.handle, 1) == 8192
    assert query(m.handle, 0) == 0 and query(m.handle, 3) == 24 + 16
    assert reserve(m.handle, 8192, 0) == 0
    assert reserve(m.handle, 8, 1) == 0                   # flags must be 0


def test_perf_event_array_per_cpu_rings_and_lost_count(session):
    m = session.create_map("events", MapType.PERF_EVENT_ARRAY, 4, 4, 0)
    assert m.max_entries == session.ncpus                 # 0 entries: one per CPU, as libbpf
    output = helper("perf_event_output")
    cpu = helper("get_smp_processor_id")() % m.max_entries
    data = buf(b"event-1!")
    assert output(0, m.handle, 0xFFFFFFFF, addr(data), 8) == 0
    assert output(0, m.handle, 0, addr(buf(b"to cpu 0")), 8) == 0
    assert output(0, m.handle, 99, addr(data), 8) == -errno.E2BIG
    reader = PerfEventReader(m)
    got = reader.poll()
    assert (cpu, b"event-1!") in got and (0, b"to cpu 0") in got and len(got) == 2
    big = buf(bytes(60000))
    assert output(0, m.handle, 0, addr(big), 60000) == 0
    assert output(0, m.handle, 0, addr(big), 60000) == -errno.ENOSPC
    assert reader.lost == 1


# --- the kernel as the reference ----------------------------------------------------
SYS_BPF = 321
BPF_MAP_CREATE, BPF_MAP_LOOKUP_ELEM, BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM = 0, 1, 2, 3
BPF_MAP_LOOKUP_AND_DELETE_ELEM = 21


class KernelMap:
    """A map of the kernel's, driven through the bpf system call."""

    def __init__(self, map_type: MapType, key_size: int, value_size: int, max_entries: int,
                 value_bytes: int):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        attr = struct.pack("<5I", map_type, key_size, value_size, max_entries, 0).ljust(128, b"\0")
        self.fd = self._bpf(BPF_MAP_CREATE, attr)
        assert self.fd >= 0, f"BPF_MAP_CREATE failed: errno {-self.fd}"
        self.value_size = value_bytes  # all CPUs' copies for per-CPU maps

    def _bpf(self, cmd: int, attr: bytes | ctypes.Array) -> int:
        buf = attr if isinstance(attr, ctypes.Array) else ctypes.create_string_buffer(attr, 128)
        r = self.libc.syscall(SYS_BPF, cmd, buf, 128)
        return -ctypes.get_errno() if r < 0 else r

    def op(self, cmd: int, key: bytes | None, value: bytes | None, flags: int = 0) -> tuple[int, bytes]:
        kb = ctypes.create_string_buffer(key or b"\0", max(1, len(key or b"")))
        vb = ctypes.create_string_buffer(value or bytes(self.value_size), self.value_size)
        value_ptr = 0 if cmd == BPF_MAP_DELETE_ELEM else ctypes.addressof(vb)  # its last field: key
        attr = struct.pack("<IIQQQ", self.fd, 0, ctypes.addressof(kb) if key is not None else 0,
                           value_ptr, flags)
        r = self._bpf(cmd, attr)
        return (min(r, 0), vb.raw)

    def close(self) -> None:
        os.close(self.fd)


def ours(m, cmd: int, key: bytes | None, value: bytes | None, flags: int = 0) -> tuple[int, bytes]:
    try:
        if cmd == BPF_MAP_UPDATE_ELEM:
            m.update(key, value, flags)
            return 0, value
        if cmd == BPF_MAP_DELETE_ELEM:
            m.delete(key)
            return 0, b""
        got = m.pop() if cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM else m.lookup(key)
        return (0, got) if got is not None else (-errno.ENOENT, b"")
    except MapOpError as err:
        return -err.errno, b""


OPS = st.lists(st.tuples(st.sampled_from([BPF_MAP_UPDATE_ELEM, BPF_MAP_DELETE_ELEM, BPF_MAP_LOOKUP_ELEM,
                                          BPF_MAP_LOOKUP_AND_DELETE_ELEM]),
                         st.integers(0, 9), st.integers(0, 3), st.binary(min_size=8, max_size=8)),
               max_size=40)


@pytest.mark.parametrize("map_type", [MapType.HASH, MapType.ARRAY, MapType.QUEUE, MapType.STACK,
                                      MapType.PERCPU_ARRAY, MapType.PERCPU_HASH])
@settings(max_examples=40, deadline=None)
@given(ops=OPS)
def test_maps_answer_as_the_kernel_does(kernel_bpf, map_type, ops):
    """The same operations on the kernel's map and ours give the same errors and values."""
    keyless = map_type in (MapType.QUEUE, MapType.STACK)
    key_size = 0 if keyless else 4
    with Session.create(size=1 << 20) as s:
        m = s.create_map("m", map_type, key_size, 8, 6)
        kernel = KernelMap(map_type, key_size, 8, 6, m.value_bytes)
        try:
            for cmd, k, flags, value in ops:
                value = bytes(b ^ c for c in range(m.value_bytes // 8) for b in value)
                if cmd == BPF_MAP_LOOKUP_AND_DELETE_ELEM and not keyless:
                    continue          # the kernel's hash/array differ by version here
                if keyless and cmd == BPF_MAP_DELETE_ELEM:
                    continue
                key = None if keyless else u32(k)
                flags = flags if cmd == BPF_MAP_UPDATE_ELEM else 0   # only updates take flags
                want = kernel.op(cmd, key, value, flags)
                got = ours(m, cmd, key, value, flags)
                assert got[0] == want[0], (cmd, k, flags)
                if want[0] == 0 and cmd != BPF_MAP_UPDATE_ELEM and cmd != BPF_MAP_DELETE_ELEM:
                    assert got[1] == want[1]
        finally:
            kernel.close()
