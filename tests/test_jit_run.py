"""`bpftime run --engine jit` on objects built with clang: maps dumped through BTF,
and XDP programs giving the kernel's result on the same object and packet."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from cli.main import main
from conftest import REPO, build_bpf
from jit_support import require_native_images

BENCH = REPO / "bench" / "programs"

COUNTER = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct pair { __u32 lo; __s16 hi; char tag[2]; };

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 16);
    __type(key, __u32);
    __type(value, struct pair);
} pairs SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} runs SEC(".maps");

__u64 total = 0;

SEC("xdp")
int count(struct xdp_md *ctx)
{
    __u32 zero = 0;
    __u64 *n = bpf_map_lookup_elem(&runs, &zero);
    if (!n)
        return 1;
    *n += 1;
    __u32 key = 7;
    struct pair p = { .lo = *n, .hi = -2, .tag = "a" };
    bpf_map_update_elem(&pairs, &key, &p, BPF_ANY);
    total += ctx->ingress_ifindex + 20;
    return 2;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.fixture(scope="module", autouse=True)
def _native() -> None:
    require_native_images()


def run_cli(*args: str, capsys) -> tuple[int, str, str]:
    code = main(["run", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_dump_maps_decodes_keys_and_values_through_btf(tmp_path: Path, capsys) -> None:
    source = tmp_path / "count.bpf.c"
    source.write_text(COUNTER)
    obj = build_bpf(source, tmp_path)
    dump = tmp_path / "maps.json"
    code, out, err = run_cli("--engine", "jit", "--mem", "00" * 20, "--repeat", "3", "--json",
                             "--dump-maps", str(dump), str(obj), capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["result"] == 2 and json.loads(out)["ns_per_run"] > 0
    maps = json.loads(dump.read_text())["maps"]
    assert maps["pairs"] == [{"key": 7, "value": {"lo": 3, "hi": -2, "tag": "a"}}]
    assert maps["runs"] == [{"key": 0, "value": 3}, {"key": 1, "value": 0}]
    (bss,) = [v for k, v in maps.items() if k.endswith(".bss")]
    assert bss == [{"key": 0, "value": {"total": 60}}]


def test_errors_are_one_line(tmp_path: Path, capsys) -> None:
    prog = tmp_path / "bad.asm"
    prog.write_text("mov %r0, 0\nldabsw 12\nexit\n")
    code, out, err = run_cli("--engine", "jit", str(prog), capsys=capsys)
    assert code != 0 and out == ""
    assert err.startswith("bpftime: error: ") and err.count("\n") == 1 and "instruction 1" in err


def kernel_run(obj: Path, packet: Path, pin_dir: Path) -> int:
    """r0 (as the kernel's u32 retval) of one BPF_PROG_TEST_RUN via bpftool."""
    pin = pin_dir / ("bpftime_test_" + obj.stem.replace(".", "_"))
    subprocess.run(["bpftool", "prog", "load", str(obj), str(pin), "type", "xdp"],
                   check=True, capture_output=True)
    try:
        out = subprocess.run(["bpftool", "prog", "run", "pinned", str(pin), "data_in", str(packet)],
                             check=True, capture_output=True, text=True)
    finally:
        pin.unlink()
    m = re.search(r"Return value: (\d+)", out.stdout + out.stderr)
    assert m, out
    return int(m.group(1))


@pytest.fixture(scope="module")
def bpffs(kernel_bpf, tmp_path_factory) -> Path:
    with open("/proc/mounts") as mounts:
        if any(line.split()[1:3] == ["/sys/fs/bpf", "bpf"] for line in mounts):
            return Path("/sys/fs/bpf")
    pytest.skip("no bpffs mounted at /sys/fs/bpf to pin programs in")


@pytest.mark.parametrize("name", ["checksum", "sieve", "bubble_sort"])
def test_xdp_object_gives_the_kernels_result(name: str, bpffs: Path, tmp_path: Path, capsys) -> None:
    obj = build_bpf(BENCH / f"{name}.bpf.c", tmp_path, ("-I", str(BENCH)))
    packet = tmp_path / "packet.bin"
    packet.write_bytes(bytes((i * 7 + 3) & 0xFF for i in range(1500)))
    code, out, err = run_cli("--engine", "jit", "--mem-file", str(packet), "--json", str(obj), capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["result"] & 0xFFFFFFFF == kernel_run(obj, packet, bpffs)


TAIL = r"""
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("xdp")
int second(struct xdp_md *ctx)
{
    unsigned char *data = (void *)(long)ctx->data;
    if (data + 2 > (unsigned char *)(long)ctx->data_end)
        return 2;
    return 40 + data[1];
}

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __uint(key_size, sizeof(__u32));
    __array(values, int (void *));
} jumps SEC(".maps") = { .values = { [2] = (void *)&second } };

SEC("xdp")
int first(struct xdp_md *ctx)
{
    void *data = (void *)(long)ctx->data;
    if (data + 1 > (void *)(long)ctx->data_end)
        return 1;
    bpf_tail_call(ctx, &jumps, *(__u8 *)data);
    return 7;
}

char LICENSE[] SEC("license") = "GPL";
"""


@pytest.mark.parametrize("index,expected", [(2, 40 + 3), (1, 7), (9, 7)])
def test_object_prog_arrays_are_filled_for_tail_calls(index: int, expected: int, tmp_path: Path,
                                                      capsys) -> None:
    source = tmp_path / "tail.bpf.c"
    source.write_text(TAIL)
    obj = build_bpf(source, tmp_path)
    code, out, err = run_cli("--engine", "jit", "--prog", "first", "--mem", f"{index:02x}0300",
                             str(obj), capsys=capsys)
    assert code == 0, err
    assert int(out, 16) == expected


def test_tail_call_targets_are_verified_too(tmp_path: Path, capsys) -> None:
    source = tmp_path / "badtail.bpf.c"
    source.write_text(TAIL.replace("return 40 + data[1];", "return 40 + ((long)ctx->data_end - (long)data);"))
    obj = build_bpf(source, tmp_path)
    code, out, err = run_cli("--engine", "jit", "--prog", "first", "--mem", "020300", str(obj), capsys=capsys)
    assert code == 1 and out == ""
    assert err.startswith("bpftime: error: second: ") and err.count("\n") == 1
