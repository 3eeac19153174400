"""Every example runs as its README says: the `bpftime load` commands are taken from
the README itself, run from the repository root, and their output checked."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from test_load_support import example_object, examples_build, host

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module", autouse=True)
def built():
    """What `python examples/build.py` (the first command of every README) builds."""
    host()
    for name in examples_build().OBJECTS:
        example_object(name)


def readme_commands(example: str) -> list[str]:
    """The `bpftime load …` lines of the README's sh blocks (continuations joined)."""
    text = (EXAMPLES / example / "README.md").read_text()
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("bpftime load"):
                commands.append(line)
    assert commands, f"{example}/README.md shows no bpftime load command"
    return commands


def run(command: str) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    return subprocess.run([sys.executable, "-m", "cli.main", *argv[1:]], cwd=REPO,
                          capture_output=True, text=True, timeout=120)


def map_lines(stdout: str, name: str) -> dict[str, str]:
    """`K => V` entries under `name (type…):` in the text the command prints at exit."""
    entries, inside = {}, False
    for line in stdout.splitlines():
        if re.match(rf"^{re.escape(name)} \(", line):
            inside = True
        elif inside and line.startswith("  ") and " => " in line:
            key, value = line.strip().split(" => ", 1)
            entries[key] = value
        elif inside:
            break
    return entries


def test_counter():
    (command,) = readme_commands("counter")
    proc = run(command)
    assert proc.returncode == 0, proc.stderr
    assert map_lines(proc.stdout, "hits") == {"0": "100000"}
    assert re.search(r"^demo_target\(0\) in thread \d+, hit \d+$", proc.stdout, re.M)


def test_malloc_free():
    (command,) = readme_commands("malloc_free")
    proc = run(command)
    assert proc.returncode == 0, proc.stderr
    (value,) = map_lines(proc.stdout, "calls").values()
    counts = json.loads(value)
    assert counts["mallocs"] > 0 and counts["frees"] > 0


def test_latency():
    (command,) = readme_commands("latency")
    proc = run(command)
    assert proc.returncode == 0, proc.stderr
    buckets = {int(k): int(v) for k, v in map_lines(proc.stdout, "hist").items()}
    assert sum(buckets.values()) == 2000
    assert len(buckets) >= 3


def test_override():
    granted, refused = readme_commands("override")
    proc = run(granted)
    assert proc.returncode == 0, proc.stderr
    assert "access granted" in proc.stdout
    proc = run(refused)
    assert proc.returncode == 1
    assert "bpf_override_return is not granted" in proc.stderr
    assert "access" not in proc.stdout


def test_ringbuf():
    (command,) = readme_commands("ringbuf")
    proc = run(command)
    assert proc.returncode == 0, proc.stderr
    shown = re.search(r"prints\n```\n(\{.*?\})\n", (EXAMPLES / "ringbuf" / "README.md").read_text()).group(1)
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith('{"map"')]
    assert len(events) == 5
    assert events[0].keys() == json.loads(shown).keys()
    assert events[0]["event"].keys() == json.loads(shown)["event"].keys()
    assert [e["event"]["name"] for e in events] == ["alpha", "beta", "gamma", "delta", "alpha"]
