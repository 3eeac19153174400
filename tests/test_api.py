"""The Python API (bpftime/api.py, docs/python-api.md) on real objects and real hosts:
the same results as the commands it stands for."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pytest

import bpftime
from bpftime.errors import LoadError, VerifyError
from bpftime.errors import NotFound
from cli.main import main
from conftest import BUILD, CONFORMANCE, build_bpf
from test_attach import host, live_bytes, wait_hits  # noqa: F401  (host: the loop_host fixture)
from test_attach_host import loop_build  # noqa: F401
from test_jit_run import COUNTER
from test_load_support import example_object
from test_load_support import host as demo_host
from test_verifier_cli import SPECS, UNSAFE, deployment

REPO = Path(__file__).resolve().parents[1]
HELLO = REPO / "examples" / "hello" / "hello.asm"
HEAVY = {"frida", "lief", "capstone", "keystone", "elftools", "yaml"}


def cli(capsys, *args) -> str:
    assert main([*map(str, args)]) == 0
    return capsys.readouterr().out


def shm(session: str) -> Path:
    return Path("/dev/shm") / session.lstrip("/")


# ---------------------------------------------------------------- import, run, verify, inspect

def test_import_and_the_api_stay_light() -> None:
    code = ("import sys, bpftime; assert 'bpftime.api' not in sys.modules; "
            f"r = bpftime.run({str(HELLO)!r}, engine='interp'); print(hex(r.result)); "
            "bpftime.load, bpftime.attach, bpftime.verify, bpftime.sessions")
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                          text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "0x68656c6c6f\n", proc.stderr[-2000:]
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert "bpftime" in imported and not imported & HEAVY


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'lod'"):
        bpftime.lod
    assert {"run", "load", "attach", "SessionInfo"} <= set(dir(bpftime))


@pytest.mark.parametrize("name", ["ldxh", "alu64-arith", "call_local"])
@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_run_a_conformance_file(name, engine) -> None:
    r = bpftime.run(CONFORMANCE / "tests" / f"{name}.data", engine=engine)
    assert r.expected is not None and r.result == r.expected
    assert r.instructions is not None and r.instructions > 0 and r.maps == {}


def test_run_input_and_maps(tmp_path, capsys) -> None:
    r = bpftime.run(CONFORMANCE / "tests" / "ldxh.data", mem=bytes.fromhex("00 00 34 12"))
    assert r.result == 0x1234 and r.expected == 0x2211   # mem replaces the file's input
    source = tmp_path / "count.bpf.c"
    source.write_text(COUNTER)
    obj = build_bpf(source, tmp_path)
    r = bpftime.run(obj, mem=bytes(20), engine="interp")
    assert r.result == 2 and r.instructions > 0
    assert r.maps["pairs"] == [{"key": 7, "value": {"lo": 1, "hi": -2, "tag": "a"}}]
    assert r.maps["runs"] == [{"key": 0, "value": 1}, {"key": 1, "value": 0}]
    dump = tmp_path / "maps.json"
    cli(capsys, "run", "--mem", "00" * 20, "--dump-maps", dump, obj)
    assert r.maps == json.loads(dump.read_text())["maps"]   # as `bpftime run --dump-maps` writes


def test_run_refuses_an_unsafe_program(tmp_path) -> None:
    prog = tmp_path / "oob.asm"
    prog.write_text("ldxdw %r0, [%r1+8]\nexit\n")
    with pytest.raises(VerifyError, match="out of bounds"):
        bpftime.run(prog, mem=bytes(8))
    assert bpftime.run(prog, mem=bytes(range(16))).result == int.from_bytes(bytes(range(8, 16)), "little")


def test_verify_safe_and_unsafe_objects_never_raising_for_a_rejection(bpf_object) -> None:
    verdicts = bpftime.verify(bpf_object("counter"))
    assert [v.name for v in verdicts] == ["count_target", "count_any"]
    safe = verdicts[0]
    assert all(v.accepted for v in verdicts) and safe.error is None
    assert safe.class_name == "default" and safe.max_instructions == 19
    assert safe.processed >= 19 and safe.memory > 0 and "accepted" in safe.message
    (bad,) = bpftime.verify(build_bpf(UNSAFE / "c_null_deref.bpf.c", BUILD / "unsafe"))
    assert not bad.accepted and bad.processed is None
    assert "null check missing" in bad.error and "c_null_deref.bpf.c:19" in bad.error
    assert bad.message.startswith("count (class default): rejected:")


def test_verify_assembly_and_a_deployment(tmp_path, host_binary) -> None:
    (hello,) = bpftime.verify(HELLO)
    assert hello.accepted and hello.max_instructions == hello.processed
    (bad,) = bpftime.verify(UNSAFE / "arith_on_nullable_pointer.asm")
    assert not bad.accepted
    spec = deployment(tmp_path, host_binary)
    unsafe = build_bpf(UNSAFE / "c_null_deref.bpf.c", tmp_path)
    spec.write_text(spec.read_text() + f"  - name: broken\n    object: {unsafe}\n"
                                       f"    program: count\n    class: observer\n")
    verdicts = {v.name: v for v in bpftime.verify(spec)}
    assert verdicts["counter"].accepted and verdicts["counter"].class_name == "observer"
    assert verdicts["counter"].max_instructions <= 10000
    assert not verdicts["broken"].accepted and "null check missing" in verdicts["broken"].error
    host_binary("demo_host")   # a development-time spec resolves against it, has no verdicts
    assert bpftime.verify(SPECS / "demo.eim.yaml") == []


def test_verify_raises_only_for_malformed_input(tmp_path, bpf_object) -> None:
    with pytest.raises(LoadError, match="no such file") as err:
        bpftime.verify(tmp_path / "none.o")
    assert err.value.exit_code == 2
    garbage = tmp_path / "x.o"
    garbage.write_bytes(b"not an object")
    with pytest.raises(LoadError):
        bpftime.verify(garbage)
    with pytest.raises(LoadError, match="unknown class 'firewall'"):
        bpftime.verify(bpf_object("counter"), cls="firewall")


def test_inspect_and_disassemble_are_the_commands_output(capsys, bpf_object) -> None:
    obj = bpf_object("globals")
    info = bpftime.inspect(obj)
    assert info == json.loads(cli(capsys, "inspect", obj, "--json"))
    assert info["programs"] and info["maps"]
    text = bpftime.disassemble(obj)
    assert text == cli(capsys, "disasm", obj) and "exit" in text
    name = info["programs"][0]["name"]
    assert bpftime.disassemble(obj, prog=name) == cli(capsys, "disasm", obj, "--prog", name)
    assert bpftime.disassemble(obj, source=False) == cli(capsys, "disasm", obj, "--no-source")
    assert bpftime.disassemble(HELLO) == cli(capsys, "disasm", HELLO) and "exit" in cli(capsys, "disasm", HELLO)


# ---------------------------------------------------------------- load

def test_load_counts_every_call_and_cleans_up() -> None:
    with bpftime.load(example_object("counter"), [str(demo_host()), "count", "30000", "4"]) as h:
        session = h.session
        assert shm(session).exists()
        assert h.wait(timeout=60) == 0
        assert h.status().state.name == "INSTALLED" and h.status().pid == h.pid
        hits = h.maps["hits"]
        assert hits[0] == 30000 and dict(hits) == {0: 30000} and len(hits) == 1
        assert hits.entries() == [{"key": 0, "value": 30000}]
        assert "counter.rodata" not in h.maps           # read-only data left out, as in the CLI
        lines = [e.text for e in h.events(timeout=0) if e.kind == "trace"]
        assert len(lines) == 1 and re.fullmatch(r"demo_target\(0\) in thread \d+, hit \d+", lines[0])
    assert not shm(session).exists()


def test_load_events_decoded_through_btf_and_attach_option() -> None:
    with bpftime.load(example_object("ringbuf"),
                      [str(demo_host()), "events", "5"], event_type="event") as h:
        events = list(h.events(timeout=60))
        assert h.returncode == 0
    assert [e.kind for e in events] == ["ringbuf"] * 5
    assert [(e.map, e.value["id"], e.value["name"]) for e in events] == \
        [("events", i, n) for i, n in enumerate(["alpha", "beta", "gamma", "delta", "alpha"])]
    assert all(e.value["pid"] == h.pid and len(e.data) >= 32 for e in events)
    with bpftime.load(example_object("counter"), [str(demo_host()), "bump", "700"],
                      progs=["count_target"], attach=["count_target=uprobe:demo:demo_bump"]) as h:
        assert h.wait(60) == 0 and h.maps["hits"][0] == 700


def test_load_kills_a_running_host_on_exit_and_open_session_reads_it() -> None:
    with bpftime.load(example_object("counter"), [str(demo_host()), "count", "1000000000", "1"]) as h:
        deadline = time.monotonic() + 30
        while h.status().state.name != "INSTALLED":
            assert time.monotonic() < deadline and h.returncode is None, h.status()
            time.sleep(0.01)
        with pytest.raises(TimeoutError):
            h.wait(timeout=0.05)
        pid, session = h.pid, h.session
        with bpftime.open_session(pid) as live:
            assert live.name == session and set(live.maps) == set(h.maps) == {"hits"}
        (row,) = [r for r in bpftime.sessions() if r.name == session]
        assert (row.kind, row.pid, row.state) == ("load", pid, "installed")
    assert not shm(session).exists()
    assert not Path(f"/proc/{pid}").exists()             # killed and reaped


def test_load_refusal_raises_before_anything_starts(tmp_path) -> None:
    unsafe = build_bpf(UNSAFE / "c_null_deref.bpf.c", BUILD / "unsafe")
    before = set(os.listdir("/dev/shm"))
    with pytest.raises(VerifyError, match="null check missing"):
        bpftime.load(unsafe, [str(demo_host()), "count", "10", "1"],
                     attach=["count=uprobe:demo:demo_target"])
    with pytest.raises(LoadError, match="no such program"):
        bpftime.load(example_object("counter"), ["no-such-program-here"])
    assert {n for n in os.listdir("/dev/shm") if n.startswith("bpftime")} <= before


# ---------------------------------------------------------------- attach, detach, sessions

def test_attach_reads_maps_and_hits_then_detaches_on_exit(host, bpf_object, capsys) -> None:
    h = host(pie=True)
    exe = Path(os.readlink(f"/proc/{h.pid}/exe"))
    with bpftime.attach(h.pid, bpf_object("counter"), progs=["count_any"],
                        attach=[f"count_any=uprobe:{exe}:target"]) as att:
        assert att.pid == h.pid and att.attached()
        assert live_bytes(h.pid, "target")[0][0] == 0xE9         # patched
        assert wait_hits(att)[0] > 0
        (row,) = [r for r in bpftime.sessions() if r.name == att.session]
        assert (row.kind, row.pid, row.state) == ("attach", h.pid, "attached")
        assert [(e.name, e.kind) for e in row.extensions] == [("count_any", "uprobe")]
        listed = [r for r in json.loads(cli(capsys, "list", "--json")) if r["name"] == att.session]
        assert {k: v for k, v in listed[0].items() if k != "extensions"} == \
            {k: v for k, v in asdict(row).items() if k != "extensions"}
        with bpftime.open_session(att.session) as live:
            assert live.maps["calls"][h.pid] > 0
        session = att.session
    assert live_bytes(h.pid, "target")[0] == live_bytes(h.pid, "target")[1]   # restored
    assert not shm(session).exists() and session not in [r.name for r in bpftime.sessions()]
    assert h.finish()[1] == 0


def test_detach_from_the_api_and_exact_counts(host, bpf_object) -> None:
    h = host(pie=False)
    exe = Path(os.readlink(f"/proc/{h.pid}/exe"))
    att = bpftime.attach(h.pid, bpf_object("counter"), progs=["count_any"],
                         attach=[f"count_any=uprobe:{exe}:target"])
    try:
        wait_hits(att)
        (done,) = bpftime.detach(h.pid)
        assert done.pid == h.pid and done.session == att.session and done.record.removed == 1
        assert not att.attached() and list(att.events(timeout=5)) == []
        time.sleep(0.01)   # calls in flight finish
        counted = att.maps["calls"][h.pid]
        assert sum(att.hits()) - 4 <= counted <= sum(att.hits())
        assert att.maps["calls"][h.pid] == counted       # detached: nothing counts any more
        with pytest.raises(NotFound, match="no attached bpftime session"):
            bpftime.detach(h.pid)                         # nothing left to detach
    finally:
        att.close()
    assert live_bytes(h.pid, "target")[0] == live_bytes(h.pid, "target")[1]
    assert h.finish()[1] == 0


def test_attach_events_stream(host) -> None:
    h = host(pie=True, threads=1)
    exe = Path(os.readlink(f"/proc/{h.pid}/exe"))
    with bpftime.attach(h.pid, example_object("ringbuf"), attach=[f"on_event=uprobe:{exe}:target"],
                        event_type="event") as att:
        events = []
        for e in att.events(timeout=30):
            events.append(e)
            if len(events) == 3:
                break
    assert [e.kind for e in events] == ["ringbuf"] * 3
    assert all(e.map == "events" and e.value["pid"] == h.pid for e in events)
    assert h.finish()[1] == 0
