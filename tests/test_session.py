"""Sessions: the shared region's life (create, open from another process, close,
unlink, stale cleanup), its object table, program images, and a hash map updated by
two processes of two threads each without losing an update."""
from __future__ import annotations

import ctypes
import os
import shutil
import stat
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bpftime.errors import BpftimeError, LoadError
from bpftime.kernel_abi import MapType
from bpftime.runtime import ObjectKind, RingBufferReader, Session, clean_stale, library_path, map_image, session_names
from bpftime.runtime.maps import MapHeader

NATIVE_TESTS = Path(__file__).parent / "native"


def run_python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_created_session_is_private_and_exclusive():
    with Session.create(size=1 << 20) as s:
        path = Path("/dev/shm") / s.name.lstrip("/")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert s.creator_pid == os.getpid() and s.size == 1 << 20
        assert s.name in session_names()
        with pytest.raises(LoadError, match="File exists"):
            Session.create(name=s.name)
    assert not path.exists()                        # the owner's `with` removes it


def test_another_process_sees_and_updates_the_maps():
    with Session.create(size=4 << 20) as s:
        counts = s.create_map("counts", MapType.HASH, 4, 8, 16)
        s.create_map("events", MapType.RINGBUF, 0, 0, 4096)
        counts.update(struct.pack("<I", 1), struct.pack("<Q", 5))
        out = run_python(f"""
import struct
from bpftime.runtime import Session, RingBufferReader
s = Session.open({s.name[1:]!r})
maps = s.maps()
print(sorted(maps), maps['counts'].lookup(struct.pack('<I', 1)).hex(), s.creator_pid)
maps['counts'].update(struct.pack('<I', 2), struct.pack('<Q', 7))
s.close()
""")
        assert out.split() == ["['counts',", "'events']", struct.pack("<Q", 5).hex(), str(os.getpid())]
        assert counts.lookup(struct.pack("<I", 2)) == struct.pack("<Q", 7)


def test_open_errors_name_the_session():
    with pytest.raises(LoadError, match=r"session /bpftime-nonexistent-0: no such session"):
        Session.open("bpftime-nonexistent-0")
    junk = Path(f"/dev/shm/bpftime-junk-{os.getpid()}")
    junk.write_bytes(b"not a session" * 4096)
    try:
        with pytest.raises(LoadError, match="not a bpftime session"):
            Session.open(junk.name)
        assert f"/{junk.name}" not in clean_stale()  # left alone: not ours to judge
        assert junk.exists()
    finally:
        junk.unlink()


def test_stale_session_of_a_dead_creator_is_cleaned():
    name = run_python("""
from bpftime.runtime import Session
import os
s = Session.create(size=1 << 20)
print(s.name, flush=True)
os._exit(0)  # a killed CLI: no close, no unlink
""").strip()
    with Session.create(size=1 << 20) as live:
        removed = clean_stale()
        assert name in removed and live.name not in removed
        assert not Path("/dev/shm" + name).exists()
        assert Path("/dev/shm" + live.name).exists()


def test_closed_session_refuses_use():
    s = Session.create(size=1 << 20)
    m = s.create_map("a", MapType.ARRAY, 4, 4, 1)
    s.close()
    s.unlink()
    with pytest.raises(BpftimeError, match="closed"):
        m.lookup(bytes(4))


def test_object_table_allocates_finds_and_reuses_space():
    with Session.create(size=1 << 20) as s:
        a = s.add_object(ObjectKind.IMAGE, "image:0", 5000)
        b = s.add_object(ObjectKind.HOOK_PLAN, "hook:0", 100)
        assert a % 64 == 0 and b >= a + 5000
        assert s.find_object(ObjectKind.IMAGE, "image:0") == a
        assert s.find_object(ObjectKind.HOOK_PLAN, "image:0") is None
        ctypes.memset(s.address(a), 0xAB, 5000)
        with pytest.raises(LoadError, match="File exists"):
            s.add_object(ObjectKind.IMAGE, "image:0", 8)
        s.remove_object(a)
        c = s.add_object(ObjectKind.BLOB, "blob", 4000)
        assert c == a                               # first fit reuses the freed block...
        assert ctypes.string_at(s.address(c), 4000) == bytes(4000)  # ...zeroed
        kinds = {(o.kind, o.name) for o in s.objects()}
        assert kinds == {(ObjectKind.TRACE, "trace_printk"), (ObjectKind.HOOK_PLAN, "hook:0"),
                         (ObjectKind.BLOB, "blob")}
        with pytest.raises(LoadError, match="Cannot allocate memory"):
            s.add_object(ObjectKind.BLOB, "huge", 2 << 20)


def test_image_is_mapped_executable_with_its_link_table_filled():
    # mov rax, rdi; add rax, [rip + 6]; ret; pad to 16; slot 0 at 16
    code = bytes.fromhex("4889f8" "48030506000000" "c3").ljust(16, b"\xcc") + bytes(8)
    with map_image(code, 16, [1000]) as image:
        fn = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint64)(image.base)
        assert fn(234) == 1234
        perms = next(line.split()[1] for line in Path("/proc/self/maps").read_text().splitlines()
                     if int(line.split("-")[0], 16) == image.base)
        assert perms == "r-xp"
    with pytest.raises(BpftimeError, match="cannot map"):
        map_image(code, 20, [1])                    # slot beyond the code


def build_stress(tmp_path: Path, name: str) -> Path:
    """Compiles tests/native/NAME.c against the native library."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    exe = tmp_path / name
    lib = Path(library_path())
    subprocess.run([gcc, "-O2", "-Wall", "-I", str(lib.parent / "native"), "-I", str(NATIVE_TESTS),
                    "-o", str(exe),
                    str(NATIVE_TESTS / f"{name}.c"), str(lib), f"-Wl,-rpath,{lib.parent}", "-lpthread"],
                   check=True, capture_output=True)
    return exe


def run_all(procs: list[subprocess.Popen], while_running=lambda: None) -> list[str]:
    """Waits for every process (killing them all on failure): their outputs."""
    outputs = []
    try:
        while any(p.poll() is None for p in procs):
            while_running()
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0, err + out
            outputs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return outputs


def test_two_processes_of_two_threads_lose_no_update(tmp_path):
    exe = build_stress(tmp_path, "hash_stress")
    iterations, counters = 100000, 16
    with Session.create(size=4 << 20) as s:
        m = s.create_map("counters", MapType.HASH, 4, 8, 64)
        run_all([subprocess.Popen([str(exe), s.name, "counters", str(iterations), str(counters), str(tag)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for tag in range(2)])
        values = {struct.unpack("<I", k)[0]: struct.unpack("<Q", v)[0] for k, v in m.items()}
        assert sorted(values) == list(range(counters))   # every churned key was deleted
        assert sum(values.values()) == 2 * 2 * iterations
        assert set(values.values()) == {2 * 2 * iterations // counters}


def test_a_lock_left_by_a_dead_thread_is_taken_over_and_a_live_one_is_respected():
    with Session.create(size=1 << 20) as s:
        q = s.create_map("q", MapType.QUEUE, 0, 4, 4)
        lock = ctypes.c_uint32.from_address(q.handle + MapHeader.lock.offset)
        dead = subprocess.Popen(["true"])
        dead.wait()
        lock.value = dead.pid                       # as if it died inside a map operation
        q.push(b"abcd")                             # would wait forever without recovery
        assert lock.value == 0 and q.pop() == b"abcd"
        alive = subprocess.Popen(["sleep", "30"])
        try:
            lock.value = alive.pid
            pusher = threading.Thread(target=q.push, args=(b"efgh",))
            pusher.start()
            pusher.join(0.5)
            assert pusher.is_alive()                # a live holder keeps its lock
            lock.value = 0
            pusher.join(10)
            assert not pusher.is_alive()
        finally:
            alive.kill()
            alive.wait()
        assert q.pop() == b"efgh"


def test_ring_buffer_with_producers_in_two_processes_of_two_threads(tmp_path):
    exe = build_stress(tmp_path, "ring_stress")
    count = 20000
    with Session.create(size=4 << 20) as s:
        reader = RingBufferReader(s.create_map("events", MapType.RINGBUF, 0, 0, 1 << 16))
        received: list[bytes] = []
        outputs = run_all([subprocess.Popen([str(exe), s.name, "events", str(count), str(tag)],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                           for tag in range(2)], lambda: received.extend(reader.poll()))
        received.extend(reader.poll())
        last = {}
        for rec in received:
            producer, seq = struct.unpack_from("<II", rec)
            assert rec[8:] == bytes([seq & 0xFF]) * (seq % 40) and seq % 9 != 0
            assert seq > last.get(producer, -1)          # each producer's records in order
            last[producer] = seq
        assert len(received) + reader.dropped == sum(int(out) for out in outputs)
        assert len(received) > 0
