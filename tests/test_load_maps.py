"""`bpftime maps`: reading the maps of a live `bpftime load` session from another process."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_load_support import example_object, host

from bpftime.inject.sessions import looks_like_session, named_pid

REPO = Path(__file__).resolve().parents[1]


def bpftime(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def live_load():
    """A `bpftime load` of the latency example whose host has made 100 calls and waits."""
    cli = subprocess.Popen([sys.executable, "-m", "cli.main", "load", str(example_object("latency")),
                            "--", str(host()), "--hold", "work", "100"], cwd=REPO,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.stdout.readline().startswith(b"work 100 ")
        assert cli.stdout.readline() == b"done\n"
        yield cli
    finally:
        cli.stdin.close()
        cli.wait(30)


def session_of(cli: subprocess.Popen) -> str:
    names = [p.name for p in Path("/dev/shm").glob(f"bpftime-{cli.pid}-*")]
    assert len(names) == 1
    return "/" + names[0]


def test_maps_of_a_live_session_as_json_and_text(live_load):
    proc = bpftime("maps", session_of(live_load), "--json")
    assert proc.returncode == 0, proc.stderr
    maps = json.loads(proc.stdout)["maps"]
    assert sum(e["value"] for e in maps["hist"]) == 100
    assert set(maps) == {"start", "hist"}
    proc = bpftime("maps", str(live_load.pid), "hist")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("hist (array")
    assert sum(int(l.split(" => ")[1]) for l in lines[1:]) == 100
    proc = bpftime("maps", str(live_load.pid), "start")   # every start was taken at its return
    assert proc.returncode == 0 and proc.stdout == "start (hash):\n  (empty)\n", proc.stderr


def test_session_by_the_pid_of_the_extended_host(live_load):
    hosts = [int(c) for t in Path(f"/proc/{live_load.pid}/task").iterdir()
             for c in (t / "children").read_text().split()]
    assert len(hosts) == 1
    proc = bpftime("maps", str(hosts[0]), "hist", "--json")
    assert proc.returncode == 0, proc.stderr
    assert sum(e["value"] for e in json.loads(proc.stdout)["maps"]["hist"]) == 100


def test_only_session_is_the_default(live_load):
    others = [p for p in Path("/dev/shm").glob("bpftime-*") if not p.name.startswith(f"bpftime-{live_load.pid}-")]
    if others:
        pytest.skip("another bpftime session is live on this machine")
    proc = bpftime("maps", "hist", "--json")
    if "live sessions, name one" in proc.stderr:
        pytest.skip("another bpftime session started meanwhile")
    assert proc.returncode == 0, proc.stderr
    assert sum(e["value"] for e in json.loads(proc.stdout)["maps"]["hist"]) == 100


@pytest.mark.parametrize("args, message", [
    (["/bpftime-no-such"], "no such session"),
    (["999999999"], "no live bpftime session was created by process 999999999 or extends it"),
])
def test_bad_session_is_one_line(args, message):
    proc = bpftime("maps", *args)
    assert proc.returncode == 2
    assert proc.stderr.startswith("bpftime: error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert message in proc.stderr


def test_unknown_map_in_a_live_session(live_load):
    proc = bpftime("maps", session_of(live_load), "nope")
    assert proc.returncode == 2
    assert "no map named 'nope'" in proc.stderr


def test_session_or_map_name():
    assert looks_like_session("/bpftime-12-ab") and looks_like_session("bpftime-1-x")
    assert looks_like_session("1234")
    assert not looks_like_session("hist")


def test_named_pid():
    assert named_pid("/bpftime-1234-ab12") == 1234 and named_pid("bpftime-7-x") == 7
    assert named_pid("/other") is None
