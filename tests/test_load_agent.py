"""The agent's start-up in a host (bpftime/native/agent_load.c), driven through the
Python API: what it reports in the session, all-or-nothing installation, and doing
nothing at all without a session."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_load_support import example_object, examples_build, host

from bpftime.inject.host import SESSION_ENV, preload_env
from bpftime.inject.prepare import LoadRequest, prepare
from bpftime.inject.records import State
from bpftime.inject.session_build import build_session
from bpftime.runtime import library_path

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def build():
    """examples/build.py, with the demo host and the counter object built."""
    host()
    example_object("counter")
    return examples_build()


def run_host(host: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(host), *args], env=env, capture_output=True, text=True, timeout=60)


def test_agent_reports_what_it_installed(build):
    host, obj = build.build_host(), build.build_object("counter")
    live = build_session(prepare(LoadRequest(obj, host)))
    try:
        assert live.status().state == State.PENDING
        proc = run_host(host, preload_env(Path(library_path()), live.session.name), "count", "500", "2")
        assert proc.returncode == 0, proc.stderr
        status = live.status()
        assert (status.state, status.hooks, status.images) == (State.INSTALLED, 1, 1)
        assert status.startup_ns > 0 and status.pid > 0
        assert live.session.map("hits").lookup(bytes(4)) == (500).to_bytes(8, "little")
    finally:
        live.destroy()


def test_one_bad_plan_installs_nothing_and_the_host_runs(build):
    """The second entry's expected bytes do not match the host: the agent reports it,
    takes the first hook out again, and the host runs unextended."""
    host, obj = build.build_host(), build.build_object("counter")
    prepared = prepare(LoadRequest(obj, host, (), ("count_target=uprobe:demo:demo_target",
                                                   "count_target=uprobe:demo:demo_work")))
    bad = prepared.hooks[1]
    bad.plan = dataclasses.replace(bad.plan, original=bytes(b ^ 0xFF for b in bad.plan.original))
    live = build_session(prepared)
    try:
        proc = run_host(host, preload_env(Path(library_path()), live.session.name), "count", "500", "2")
        assert proc.returncode == 0 and "calls 500 sum 250000" in proc.stdout
        status = live.status()
        assert status.state == State.FAILED
        assert status.message.startswith("hook 1 ")
        assert status.hooks == 0
        assert live.session.map("hits").lookup(bytes(4)) == bytes(8)
    finally:
        live.destroy()


def test_without_a_session_the_agent_does_nothing(build):
    host = build.build_host()
    env = {**os.environ, "LD_PRELOAD": library_path()}
    env.pop(SESSION_ENV, None)
    proc = run_host(host, env, "count", "10", "1")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "calls 10 sum 100\n", "")


def test_a_missing_session_leaves_the_host_running(build):
    env = {**os.environ, "LD_PRELOAD": library_path(), SESSION_ENV: "/bpftime-no-such-session"}
    proc = run_host(build.build_host(), env, "count", "10", "1")
    assert proc.returncode == 0 and proc.stdout == "calls 10 sum 100\n"
    assert "bpftime agent" in proc.stderr and "/bpftime-no-such-session" in proc.stderr


def test_static_host_is_run_but_reported_unextended(tmp_path, build):
    static = tmp_path / "demo-static"
    made = subprocess.run(["cc", "-O2", "-static", "-pthread", "-o", str(static),
                           str(build.HOST_SOURCE)], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot link statically here: {made.stderr.strip()[:200]}")
    proc = subprocess.run([sys.executable, "-m", "cli.main", "load", str(build.build_object("counter")),
                           "--", str(static), "count", "10", "1"], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0
    assert "calls 10 sum 100" in proc.stdout
    assert "the agent never started in the host" in proc.stderr


def test_the_library_is_the_one_next_to_the_imported_package(tmp_path, monkeypatch):
    import bpftime
    from bpftime.errors import BpftimeError

    assert Path(library_path()).parent == Path(bpftime.__file__).parent
    monkeypatch.setattr(bpftime, "__file__", str(tmp_path / "__init__.py"))
    with pytest.raises(BpftimeError, match=rf"^the native library is not built in {tmp_path}: "
                                           r"run pip install -e \. \(make setup\)$"):
        library_path()
    (tmp_path / "_native.cpython-311-x86_64-linux-gnu.so").touch()
    assert library_path() == str(tmp_path / "_native.cpython-311-x86_64-linux-gnu.so")
