"""`bpftime inspect`: what a user reads about an object, as text and JSON."""
from __future__ import annotations

import json
import subprocess
import sys

from cli.main import main


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_lists_programs_maps_globals_externs(bpf_object, capsys):
    code, out, _ = run_cli(capsys, "inspect", str(bpf_object("globals")), "--json")
    assert code == 0
    info = json.loads(out)
    [prog] = info["programs"]
    assert prog["name"] == "on_work" and prog["section"] == "uprobe//proc/self/exe:work"
    assert prog["attach"] == {"kind": "uprobe", "target": "/proc/self/exe:work",
                              "binary": "/proc/self/exe", "function": "work"}
    assert prog["insns"] == 58 and prog["subprograms"] == ["accumulate", "clamp"]
    maps = {m["name"]: m for m in info["maps"]}
    assert maps["names"] == {"name": "names", "type": "array", "key_size": 4, "value_size": 32,
                             "max_entries": 4, "flags": 0, "section": ".maps",
                             "key_type": "u32", "value_type": "char [32]"}
    assert maps["globals.rodata"]["flags"] == 0x480
    assert {g["name"]: g["type"] for g in info["globals"]}["cfg"] == "const volatile struct config"
    assert info["btf"]["types"] > 0 and info["btf"]["kinds"]["DATASEC"] == 6


def test_map_types_by_kernel_names(bpf_object, capsys):
    types = {}
    for name in ("ringbuf", "syscall", "mapinmap", "legacy"):
        code, out, _ = run_cli(capsys, "inspect", str(bpf_object(name)), "--json")
        assert code == 0
        types.update({m["name"]: m["type"] for m in json.loads(out)["maps"]})
    assert types == {"events": "ringbuf", "stats": "percpu_array", "last_path": "lru_hash",
                     "inner_a": "array", "inner_b": "array", "outer": "array_of_maps", "jumps": "prog_array",
                     "flows": "hash", "packets": "array", "by_len": "hash"}


def test_text_output(bpf_object, capsys):
    code, out, _ = run_cli(capsys, "inspect", str(bpf_object("externs")))
    assert code == 0
    assert "on_handle" in out and "/proc/self/exe:handle" in out
    assert "host_optional" in out and "func (weak)" in out
    assert "int host_copy(void *, const void *, u64)" in out
    code, out, _ = run_cli(capsys, "inspect", str(bpf_object("legacy")))
    lines = [line.split() for line in out.splitlines()]
    assert ["by_len", "hash", "4", "8", "64", "0x1"] in lines


def test_bad_object_one_line_error(tmp_path, bpf_object):
    bad = tmp_path / "bad.o"
    bad.write_bytes(bpf_object("counter").read_bytes()[:300])
    proc = subprocess.run([sys.executable, "-m", "cli.main", "inspect", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"bpftime: error: {bad}:") and proc.stderr.count("\n") == 1
