"""The host side of `bpftime load`: which programs may be hosts, the environment
they get, signal forwarding and exit statuses."""
from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from bpftime.errors import LoadError
from bpftime.inject.host import SESSION_ENV, Host, preload_env, resolve_program


def test_program_found_in_path_and_checked():
    assert resolve_program("true") == Path(os.path.realpath(__import__("shutil").which("true")))


@pytest.mark.parametrize("name, message", [
    ("/nonexistent/prog", "no such file"),
    ("no-such-program-bpftime", "no such program in PATH"),
])
def test_missing_program_is_one_line_error(name, message):
    with pytest.raises(LoadError, match=message):
        resolve_program(name)


def test_script_is_refused(tmp_path):
    script = tmp_path / "run.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    with pytest.raises(LoadError, match="not an ELF executable"):
        resolve_program(str(script))


def test_non_executable_is_refused(tmp_path):
    copy = tmp_path / "true"
    copy.write_bytes(Path(resolve_program("true")).read_bytes())
    copy.chmod(0o644)
    with pytest.raises(LoadError, match="not executable"):
        resolve_program(str(copy))


def test_environment_puts_agent_first_and_names_session():
    env = preload_env(Path("/x/agent.so"), "/bpftime-1", {"LD_PRELOAD": "/y/other.so", "A": "1"})
    assert env == {"LD_PRELOAD": "/x/agent.so /y/other.so", SESSION_ENV: "/bpftime-1", "A": "1"}
    assert preload_env(Path("/x/agent.so"), "/s", {})["LD_PRELOAD"] == "/x/agent.so"


def _wait(host: Host, limit: float = 10.0) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = host.wait(0.05)
        if status is not None:
            return status
    raise AssertionError("host did not end")


def test_exit_code_is_the_hosts():
    host = Host.start(Path(sys.executable), ["-c", "raise SystemExit(7)"], dict(os.environ))
    try:
        assert _wait(host) == 7
    finally:
        host.finish()


def test_signal_to_the_command_reaches_the_host():
    host = Host.start(Path(sys.executable), ["-c", "import time; time.sleep(30)"], dict(os.environ))
    try:
        time.sleep(0.2)
        # aimed at this thread, which blocks it, so wait() takes it: a process-wide kill could
        # land in another thread of the test process (e.g. Frida's) and end the whole run
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
        assert _wait(host) == 128 + signal.SIGTERM
    finally:
        host.finish()


def test_finish_kills_a_host_left_running():
    host = Host.start(Path(sys.executable), ["-c", "import time; time.sleep(30)"], dict(os.environ))
    host.finish()
    assert host.status == 128 + signal.SIGKILL
    # the mask is restored: SIGTERM is deliverable to this process again
    assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, [])
