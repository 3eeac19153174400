"""The native helpers called as JIT code calls them (System V, r1..r5) through
ctypes: kernel semantics, errors instead of crashes, per-thread invocation state,
and no use of vector registers on their paths."""
from __future__ import annotations

import ctypes
import errno
import mmap
import os
import re
import shutil
import struct
import subprocess
import threading
import time

import pytest

from bpftime.kernel_abi import HELPER_NAMES, helper_id
from bpftime.runtime import Session, helper_address, invoke, library_path

U64 = ctypes.c_uint64
HELPER = ctypes.CFUNCTYPE(U64, U64, U64, U64, U64, U64)
PROGRAM = ctypes.CFUNCTYPE(U64, ctypes.c_void_p)
IMPLEMENTED = ["map_lookup_elem", "map_update_elem", "map_delete_elem", "probe_read", "ktime_get_ns",
               "trace_printk", "get_prandom_u32", "get_smp_processor_id", "tail_call",
               "get_current_pid_tgid", "get_current_uid_gid", "get_current_comm", "perf_event_output",
               "get_stackid", "probe_write_user", "probe_read_str", "override_return", "get_stack",
               "map_push_elem", "map_pop_elem", "map_peek_elem", "probe_read_user", "probe_read_kernel",
               "probe_read_user_str", "probe_read_kernel_str", "ktime_get_boot_ns", "ringbuf_output",
               "ringbuf_reserve", "ringbuf_submit", "ringbuf_discard", "ringbuf_query",
               "ktime_get_coarse_ns", "snprintf", "get_func_ip", "loop", "strncmp"]


def helper(name: str):
    fn = HELPER(helper_address(helper_id(name)))

    def call(*args: int) -> int:
        raw = fn(*(list(args) + [0] * (5 - len(args))))
        return raw - (1 << 64) if raw >= 1 << 63 else raw
    return call


def cbuf(data: bytes | int) -> ctypes.Array:
    return ctypes.create_string_buffer(data) if isinstance(data, int) else \
        ctypes.create_string_buffer(data, len(data))


def addr(b: ctypes.Array) -> int:
    return ctypes.addressof(b)


def unmapped_address() -> int:
    """An address with nothing mapped at it (a page mapped, then unmapped)."""
    m = mmap.mmap(-1, 4096)
    a = ctypes.addressof(ctypes.c_char.from_buffer(m))
    m.close()
    return a


def test_every_listed_helper_exists_and_unknown_ids_do_not():
    for name in IMPLEMENTED:
        assert helper_address(helper_id(name)), name
    assert helper_address(helper_id("skb_store_bytes")) == 0
    assert helper_address(0) == 0 and helper_address(len(HELPER_NAMES) + 5) == 0


def test_probe_read_copies_and_reports_a_bad_address():
    src, dst = cbuf(b"payload!"), cbuf(8)
    assert helper("probe_read")(addr(dst), 8, addr(src)) == 0 and dst.raw == b"payload!"
    dst = cbuf(b"xxxxxxxx")
    for name in ("probe_read", "probe_read_user", "probe_read_kernel"):
        assert helper(name)(addr(dst), 8, unmapped_address()) == -errno.EFAULT
        assert dst.raw == bytes(8)                       # zeroed on error, as the kernel does
        assert helper(name)(addr(dst), 8, 0) == -errno.EFAULT


def test_probe_read_str_lengths_truncation_and_faults():
    rd = helper("probe_read_str")
    src, dst = cbuf(b"hello\0junk"), cbuf(16)
    assert rd(addr(dst), 16, addr(src)) == 6 and dst.value == b"hello"
    assert rd(addr(dst), 4, addr(src)) == 4 and dst.raw[:4] == b"hel\0"
    assert rd(addr(dst), 16, unmapped_address()) == -errno.EFAULT
    # a string that ends right before an unmapped page is read in full
    m = mmap.mmap(-1, 8192)
    base = ctypes.addressof(ctypes.c_char.from_buffer(m))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    ctypes.memmove(base + 4096 - 4, b"end\0", 4)
    assert libc.munmap(base + 4096, 4096) == 0
    assert helper("probe_read_user_str")(addr(dst), 16, base + 4096 - 4) == 4 and dst.value == b"end"
    ctypes.memmove(base + 4096 - 3, b"abc", 3)            # no NUL before the hole
    assert helper("probe_read_user_str")(addr(dst), 16, base + 4096 - 3) == -errno.EFAULT


def test_probe_write_user_writes_and_refuses_bad_memory():
    dst, src = cbuf(b"........"), cbuf(b"written!")
    assert helper("probe_write_user")(addr(dst), addr(src), 8) == 0 and dst.raw == b"written!"
    assert helper("probe_write_user")(unmapped_address(), addr(src), 8) == -errno.EFAULT


def test_clocks_and_identity():
    before = time.monotonic_ns()
    now = helper("ktime_get_ns")()
    assert before <= now <= time.monotonic_ns()
    assert helper("ktime_get_boot_ns")() >= now
    assert abs(helper("ktime_get_coarse_ns")() - now) < 50_000_000
    assert helper("get_current_pid_tgid")() == (os.getpid() << 32) | threading.get_native_id()
    assert helper("get_current_uid_gid")() == (os.getgid() << 32) | os.getuid()
    assert 0 <= helper("get_smp_processor_id")() < os.cpu_count()
    results = []
    t = threading.Thread(target=lambda: results.append(helper("get_current_pid_tgid")()))
    t.start()
    t.join()
    assert results[0] >> 32 == os.getpid() and results[0] & 0xFFFFFFFF != threading.get_native_id()


def test_cached_ids_are_right_in_a_forked_child():
    pid_tgid = helper("get_current_pid_tgid")
    assert pid_tgid() >> 32 == os.getpid()                 # the parent's ids are cached now
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(write, struct.pack("<Q", pid_tgid()))
        os._exit(0)
    os.waitpid(child, 0)
    value = struct.unpack("<Q", os.read(read, 8))[0]
    os.close(read)
    os.close(write)
    assert value == (child << 32) | child


def test_get_current_comm_is_the_thread_name_padded():
    comm = open(f"/proc/self/task/{threading.get_native_id()}/comm").read().strip().encode()
    out = cbuf(b"\xff" * 16)
    assert helper("get_current_comm")(addr(out), 16) == 0
    assert out.raw == comm[:15].ljust(16, b"\0")
    small = cbuf(b"\xff" * 3)
    assert helper("get_current_comm")(addr(small), 3) == 0 and small.raw == comm[:2] + b"\0"


def test_prandom_varies():
    values = {helper("get_prandom_u32")() for _ in range(200)}
    assert len(values) > 190 and all(0 <= v < 1 << 32 for v in values)


def snprintf(fmt: bytes, *args: int, size: int = 128) -> tuple[int, bytes]:
    out, f = cbuf(size), cbuf(fmt + b"\0")
    data = (ctypes.c_uint64 * max(1, len(args)))(*args)
    n = helper("snprintf")(addr(out), size, addr(f), ctypes.addressof(data), 8 * len(args))
    return n, out.value


def test_snprintf_kernel_format_subset():
    s = cbuf(b"str\0")
    n, text = snprintf(b"%d %i %u %x %X|%5d|%-4s|%08lx %llu %lld %c %% %s",
                       (-5) & 0xFFFFFFFF, 7, 2**32 - 1, 255, 255, 42, addr(s), 0xbeef,
                       2**64 - 1, -(2**40) & (2**64 - 1), ord("z"), addr(s))
    expect = b"-5 7 4294967295 ff FF|   42|str |0000beef 18446744073709551615 -1099511627776 z % str"
    assert text == expect and n == len(expect) + 1
    n, text = snprintf(b"%p", 0x1000)
    assert text == b"0x1000"
    n, text = snprintf(b"%s", unmapped_address())
    assert text == b""                                     # unreadable strings print empty
    n, text = snprintf(b"0123456789", size=5)
    assert n == 11 and text == b"0123"                     # truncated, length of the whole
    assert snprintf(b"%f", 1)[0] == -errno.EINVAL
    assert snprintf(b"%d %d", 1)[0] == -errno.EINVAL       # more conversions than arguments


def test_trace_printk_without_a_session_writes_stderr(capfd):
    fmt = cbuf(b"value=%d\n\0")
    assert helper("trace_printk")(addr(fmt), len(fmt.raw), 17) == len(b"value=17\n")
    assert capfd.readouterr().err == "value=17\n"
    plain = cbuf(b"no newline\0")                        # one line a call, as the trace pipe shows
    assert helper("trace_printk")(addr(plain), len(plain.raw)) == len(b"no newline")
    assert capfd.readouterr().err == "no newline\n"
    assert helper("trace_printk")(addr(fmt), len(fmt.raw) - 1, 17) == -errno.EINVAL  # no NUL in size
    assert helper("trace_printk")(unmapped_address(), 8, 17) == -errno.EFAULT


def test_trace_printk_in_a_session_and_invocation_state():
    fmt = cbuf(b"hit %s at %lx\n\0")
    who = cbuf(b"prog\0")

    @PROGRAM
    def program(ctx):
        helper("trace_printk")(addr(fmt), len(fmt.raw), addr(who), helper("get_func_ip")())
        helper("override_return")(ctx, 99)
        return ctx + 1

    with Session.create(size=1 << 20) as s:
        entry = ctypes.cast(program, ctypes.c_void_p).value
        result = invoke(entry, 41, session=s, func_ip=0xabc)
        assert result.r0 == 42 and result.override == 99
        assert s.trace_lines() == ["hit prog at abc"]
        assert s.trace_lines() == []
        assert helper("get_func_ip")() == 0                 # restored after the run
        assert invoke(ctypes.cast(PROGRAM(lambda c: 0), ctypes.c_void_p).value, 0, s).override is None


def test_strncmp():
    cmp = helper("strncmp")
    a, b = cbuf(b"abcdef\0"), cbuf(b"abcxyz\0")
    assert cmp(addr(a), 3, addr(b)) == 0
    assert cmp(addr(a), 4, addr(b)) < 0 and cmp(addr(b), 4, addr(a)) > 0
    assert cmp(addr(a), 7, addr(cbuf(b"abcdef\0"))) == 0


def test_loop_calls_back_until_told_to_stop():
    calls = []
    CALLBACK = ctypes.CFUNCTYPE(ctypes.c_long, ctypes.c_uint64, ctypes.c_void_p)

    @CALLBACK
    def body(i, ctx):
        calls.append((i, ctx))
        return 1 if i == 4 else 0
    cb = ctypes.cast(body, ctypes.c_void_p).value
    assert helper("loop")(10, cb, 0x77, 0) == 5
    assert calls == [(i, 0x77) for i in range(5)]
    calls.clear()
    assert helper("loop")(3, cb, 1, 0) == 3 and len(calls) == 3
    assert helper("loop")(3, cb, 1, 1) == -errno.EINVAL
    assert helper("loop")(1 << 24, cb, 1, 0) == -errno.E2BIG


def test_get_stack_walks_frame_pointers_from_the_hit_registers():
    # two frames: [saved bp, return address] each, the last with saved bp 0
    stack = (ctypes.c_uint64 * 16)()
    base = ctypes.addressof(stack)
    f0, f1 = base + 32, base + 64
    stack[4], stack[5] = f1, 0x1111
    stack[8], stack[9] = 0, 0x2222
    regs = (ctypes.c_uint64 * 21)()
    regs[4], regs[16], regs[19] = f0, 0x4000, base      # bp, ip, sp (struct pt_regs order)
    out = (ctypes.c_uint64 * 6)()

    @PROGRAM
    def program(ctx):
        return helper("get_stack")(ctx or 0, ctypes.addressof(out), 48, 1 << 8) & (2**64 - 1)

    entry = ctypes.cast(program, ctypes.c_void_p).value
    assert invoke(entry, 0, regs=ctypes.addressof(regs)).r0 == 24
    assert list(out) == [0x4000, 0x1111, 0x2222, 0, 0, 0]
    stack[4] = unmapped_address()                          # a broken chain ends the walk safely
    regs[4] = f0
    invoke(entry, 0, regs=ctypes.addressof(regs))
    assert out[0] == 0x4000 and out[1] == 0x1111
    assert helper("get_stack")(0, ctypes.addressof(out), 12, 0) == -errno.EINVAL
    # at a function's entry its caller's return address is on top of the stack
    stack[0], stack[4] = 0x3333, f1
    assert invoke(entry, 0, func_ip=0x4000, regs=ctypes.addressof(regs)).r0 == 32
    assert list(out) == [0x4000, 0x3333, 0x1111, 0x2222, 0, 0]


def test_helper_and_map_code_never_touches_vector_registers():
    """Helpers run in host threads whose vector registers nobody saved."""
    objdump = shutil.which("objdump")
    if objdump is None:
        pytest.skip("objdump (binutils) is not installed")
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", library_path()],
                          capture_output=True, text=True, check=True).stdout
    funcs = re.split(r"\n(?=[0-9a-f]+ <)", text)
    runtime = re.compile(r"[0-9a-f]+ <(bpftime_helper_\w+|bpftime_map_\w+|bpftime_ring_\w+|bpftime_format|"
                         r"bpftime_safe_\w+|hash_\w+|array_\w+|queue_\w+|ring_\w+|bloom_\w+|lpm_\w+|"
                         r"stack_trace_\w+|perf_\w+|bpftime_invoke|emit_\w+|find|search|walk|store_value|update_\w+|"
                         r"lru_\w+|bpftime_lock_\w+|bpftime_this_cpu)(\.\w+)?>:")
    checked = 0
    for body in funcs:
        head = runtime.match(body)
        if not head:
            continue
        checked += 1
        assert not re.search(r"%[xyz]mm\d", body), f"{head.group(1)} uses vector registers"
        if not head.group(1).startswith("bpftime_map_"):    # user-space map entry points may
            assert not re.search(r"call.*<(mem\w+|str\w+)@plt>", body), \
                f"{head.group(1)} calls a libc string function"
    assert checked > 40


def test_trace_ring_counts_what_it_drops():
    fmt = cbuf(b"line %04d\n\0")
    count, fits = 600, 4096 // 24                           # 8-byte header + 10 bytes, aligned

    @PROGRAM
    def program(ctx):
        for i in range(count):
            helper("trace_printk")(addr(fmt), len(fmt.raw), i)
        return 0

    with Session.create(size=1 << 20, trace_size=4096) as s:
        invoke(ctypes.cast(program, ctypes.c_void_p).value, 0, session=s)
        lines = s.trace_lines()
        assert lines == [f"line {i:04d}" for i in range(fits)]
        assert s.trace_dropped == count - fits
