"""Every helper of the native runtime runs in the reference interpreter: it has a
prototype (so its arguments are checked) and a call with well-formed arguments
completes. bpf_tail_call in both engines (tests/programs/tailcall.bpf.c through
`bpftime run`), bpf_strncmp's read-only string argument."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bpftime.asm import assemble
from bpftime.errors import RuntimeFault
from bpftime.helper_protos import PROTOS, Arg
from bpftime.kernel_abi import MapType, helper_id, helper_name
from bpftime.vm import Bindings, Machine
from bpftime.vm.helpers import with_bpf_loop
from bpftime.vm.native import MapInfo, native_helpers
from conftest import REPO, build_bpf
from jit_support import require_native_images

# the map a helper's map argument needs: (type, key size, value size, max entries)
MAP_FOR = {
    "map_push_elem": (MapType.QUEUE, 0, 8, 4), "map_pop_elem": (MapType.QUEUE, 0, 8, 4),
    "map_peek_elem": (MapType.QUEUE, 0, 8, 4),
    "map_lookup_percpu_elem": (MapType.PERCPU_ARRAY, 4, 8, 4),
    "perf_event_output": (MapType.PERF_EVENT_ARRAY, 4, 4, 4),
    "get_stackid": (MapType.STACK_TRACE, 4, 8 * 16, 4), "tail_call": (MapType.PROG_ARRAY, 4, 8, 4),
    **{f"ringbuf_{op}": (MapType.RINGBUF, 0, 0, 4096)
       for op in ("output", "reserve", "submit", "discard", "query")},
}
BUFFER = "mov %r{}, %r10\nadd %r{}, -64"   # 64 zero bytes of the stack: also the string ""
ARG_SETUP = {
    Arg.ANYTHING: "mov %r{}, 0", Arg.PTR_OR_NULL: "mov %r{}, 0", Arg.CTX: "mov %r{}, %r6",
    Arg.CONST_MAP_PTR: "lddw %r{}, map_idx(0)", Arg.RINGBUF_RECORD: "mov %r{}, %r7",
    Arg.CONST_SIZE: "mov %r{}, 8", Arg.CONST_SIZE_OR_ZERO: "mov %r{}, 8",
    Arg.CONST_ALLOC_SIZE: "mov %r{}, 8", Arg.FUNC: "lddw %r{}, func(callback)",
    **{k: BUFFER for k in (Arg.MAP_KEY, Arg.MAP_VALUE, Arg.UNINIT_MAP_VALUE, Arg.MEM,
                           Arg.UNINIT_MEM, Arg.MEM_OR_NULL, Arg.CONST_STR)},
}
RESERVE_ID = helper_id("ringbuf_reserve")
RESERVE = "lddw %r1, map_idx(0)\nmov %r2, 8\nmov %r3, 0\ncall bpf_ringbuf_reserve\nmov %r7, %r0\n"


@pytest.fixture(scope="module")
def runtime():
    require_native_images()
    from bpftime.runtime import Session, helper_address

    with Session.create(size=1 << 20) as session:
        yield session, helper_address


def native_ids(helper_address) -> list[int]:
    return [i for i in range(256) if helper_address(i)]


def test_every_native_helper_has_a_prototype(runtime) -> None:
    _, helper_address = runtime
    ids = native_ids(helper_address)
    assert len(ids) > 30 and [helper_name(i) for i in ids if i not in PROTOS] == []


def helper_program(hid: int) -> str:
    """Save r1 (the context), set every argument by its kind, call, return 0."""
    proto = PROTOS[hid]
    setup = "\n".join(ARG_SETUP[kind].format(n, n) for n, kind in enumerate(proto.args, 1))
    prelude = RESERVE if Arg.RINGBUF_RECORD in proto.args else ""
    return (f"mov %r6, %r1\n{prelude}{setup}\ncall {helper_name(hid)}\nmov %r0, 0\nexit\n"
            "callback:\nmov %r0, 1\nexit\n")


def test_every_native_helper_runs_in_the_interpreter(runtime) -> None:
    session, helper_address = runtime
    for hid in native_ids(helper_address):
        kind, key, value, entries = MAP_FOR.get(PROTOS[hid].name, (MapType.HASH, 8, 8, 4))
        the_map = session.create_map(f"m{hid}", kind, key, value, entries)
        infos = {the_map.handle: MapInfo(the_map.name, key, value)}
        helpers = with_bpf_loop(native_helpers([hid, RESERVE_ID], helper_address, infos))
        machine = Machine(assemble(helper_program(hid)),
                          Bindings(helpers=helpers, map_handles=[the_map.handle]))
        assert machine.run(bytes(64)) == 0, helper_name(hid)


def test_a_string_argument_must_end_in_readable_memory(runtime) -> None:
    _, helper_address = runtime
    text = "stdw [%r10-8], -1\nmov %r1, %r10\nadd %r1, -16\nmov %r2, 8\n" \
           "mov %r3, %r10\nadd %r3, -8\ncall bpf_strncmp\nexit"
    helpers = native_helpers([helper_id("strncmp")], helper_address, {})
    with pytest.raises(RuntimeFault) as info:
        Machine(assemble(text), Bindings(helpers=helpers)).run()
    assert info.value.pc == 6 and "argument 3 (r3) of bpf_strncmp" in info.value.reason
    assert "no NUL" in info.value.reason



def bpftime_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", "run", *args], cwd=REPO,
                          capture_output=True, text=True)


@pytest.mark.parametrize("packet", ["05", ""])
def test_tail_calls_agree_between_the_engines(bpf_object, tmp_path: Path, packet: str) -> None:
    """entry misses slot 3 and goes on, jumps to first, first to second, second to
    itself until 33 tail calls are done: same r0, maps and instruction count."""
    require_native_images()
    obj = bpf_object("tailcall")
    runs = {}
    for engine in ("interp", "jit"):
        dump = tmp_path / f"{engine}.json"
        proc = bpftime_run(str(obj), "--prog", "entry", "--mem", packet, "--engine", engine,
                           "--json", "--dump-maps", str(dump))
        assert proc.returncode == 0, proc.stderr
        maps = json.loads(dump.read_text())["maps"]
        # prog_array slots hold each engine's own handle of a program: compare which are set
        filled = [bool(e["value"]) for e in maps.pop("jumps")]
        runs[engine] = (json.loads(proc.stdout), maps, filled)
    visits = [{"key": k, "value": v} for k, v in enumerate([1, 1, 32, 1])]
    result = 40 + 5 if packet else 2
    assert runs["interp"][0]["result"] == result
    assert runs["interp"][1:] == runs["jit"][1:] == ({"visits": visits}, [True, True, False, False])
    assert runs["interp"][0] == runs["jit"][0]   # r0 and instructions executed


STRNCMP = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

const char expected[] = "bpftime";

SEC("xdp")
int cmp(struct xdp_md *ctx)
{
	char *data = (void *)(long)ctx->data;

	if (data + 8 > (char *)(long)ctx->data_end)
		return 99;
	return bpf_strncmp(data, 8, EXPECTED) + 10;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("packet,result", [(b"bpftime\0", 10), (b"bpftimf\0", 11),
                                           (b"bpfta\0\0\0", 9), (b"bpftime!", 11)])
def test_strncmp_runs_in_both_engines(tmp_path: Path, packet: bytes, result: int) -> None:
    require_native_images()
    source = tmp_path / "strncmp.bpf.c"
    source.write_text(STRNCMP.replace("EXPECTED", "expected"))
    obj = build_bpf(source, tmp_path)
    for engine in ("interp", "jit"):
        proc = bpftime_run(str(obj), "--mem", packet.hex(), "--engine", engine)
        assert (proc.returncode, proc.stdout) == (0, f"{result:#x}\n"), proc.stderr


@pytest.mark.parametrize("source,words", [
    (STRNCMP.replace("EXPECTED", "expected + 8"), "is not zero-terminated"),
    (STRNCMP.replace("const char", "char").replace("EXPECTED", "expected"),
     "does not point to a readonly map"),
    (STRNCMP.replace("EXPECTED", "data"), "helper argument of the wrong kind"),
])
def test_strncmp_wants_a_string_of_read_only_global_data(tmp_path: Path, source: str,
                                                         words: str) -> None:
    path = tmp_path / "bad.bpf.c"
    path.write_text(source)
    proc = bpftime_run(str(build_bpf(path, tmp_path)), "--mem", "00" * 8, "--engine", "interp")
    assert proc.returncode == 1 and words in proc.stderr


SNPRINTF = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int fmt(struct xdp_md *ctx)
{
	static const char f[] = "n=%d";
	char out[16];
	u64 args[1] = { 42 };

	return bpf_snprintf(out, sizeof out, f, args, sizeof args) * 256 + out[3];
}

char LICENSE[] SEC("license") = "GPL";
"""


def test_snprintf_takes_its_format_from_read_only_global_data(tmp_path: Path) -> None:
    """As the kernel's prototype: the format is a constant string (argument 3), the
    data and its size follow (arguments 4 and 5)."""
    require_native_images()
    source = tmp_path / "snprintf.bpf.c"
    source.write_text(SNPRINTF)
    obj = build_bpf(source, tmp_path)
    for engine in ("interp", "jit"):
        proc = bpftime_run(str(obj), "--mem", "00", "--engine", engine)
        assert (proc.returncode, proc.stdout) == (0, f"{len('n=42') + 1:#x}{ord('2'):02x}\n"), proc.stderr
