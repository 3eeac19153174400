"""Bad input to bpftime attach / detach: each is one line on stderr (no traceback),
exit code 1, and the target process is left unpatched and running."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_attach_host import LoopHost, build_loop_host, loop_build  # noqa: F401

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def counter(bpf_object) -> Path:
    return bpf_object("counter")


def run(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "cli.main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def one_line_error(proc: subprocess.CompletedProcess, *words: str, code: int = 1) -> str:
    """Exit code 1 for a process that cannot be extended, 2 for malformed input or a
    process or session that does not exist."""
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bpftime: error: "), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


def attach_args(pid: int, counter: Path, entry: str) -> tuple[str, ...]:
    return ("attach", str(pid), str(counter), "--prog", "count_any", "--attach",
            f"count_any=uprobe:{entry}", "--detach-after", "0.2")


def test_no_such_process(counter):
    pid = 4_000_000   # above the largest pid_max
    one_line_error(run(*attach_args(pid, counter, "libc.so.6:labs")), f"process {pid}",
                   "no such process", code=2)
    one_line_error(run("detach", str(pid)), f"process {pid}: no such process", code=2)


def test_zombie(counter):
    child = subprocess.Popen(["true"])
    try:
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] != "Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        one_line_error(run(*attach_args(child.pid, counter, "libc.so.6:labs")), "zombie")
    finally:
        child.wait()


def test_process_of_another_user_without_cap_sys_ptrace(counter):
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a host as another user")
    host = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                             "sleep", "30"])
    try:
        time.sleep(0.2)
        drop = ("setpriv", "--inh-caps=-sys_ptrace", "--bounding-set=-sys_ptrace")
        line = one_line_error(run(*attach_args(host.pid, counter, "libc.so.6:labs"), prefix=drop),
                              "may not be traced", "uid 65534", "CAP_SYS_PTRACE")
        assert host.poll() is None, line
    finally:
        host.kill()
        host.wait()


def test_process_that_exits_during_attach(counter):
    """The process passes the checks, then ends before the agent is in: a clear
    error, and no session is left behind."""
    from bpftime.inject.attach import attach_prepared, attach_request
    from bpftime.errors import AttachError
    from bpftime.inject.prepare import prepare
    from bpftime.runtime.session import session_names

    ours = f"/bpftime-{os.getpid()}-"   # other tests on the machine make sessions too
    before = {n for n in session_names() if n.startswith(ours)}
    host = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.1)
        proc, req = attach_request(host.pid, counter, ("count_any",),
                                   ("count_any=uprobe:libc.so.6:labs",))
        prepared = prepare(req, host.pid)
        host.kill()
        host.wait()
        with pytest.raises(AttachError, match=f"process {host.pid}: it exited during attach"):
            attach_prepared(proc, prepared)
    finally:
        if host.poll() is None:
            host.kill()
            host.wait()
    assert {n for n in session_names() if n.startswith(ours)} <= before


def test_statically_linked_process_is_refused(counter, tmp_path):
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed")
    src = tmp_path / "static.c"
    src.write_text("#include <unistd.h>\nint main(void){ for (;;) pause(); }\n")
    exe = tmp_path / "static"
    build = subprocess.run([gcc, "-static", "-O2", str(src), "-o", str(exe)], capture_output=True)
    if build.returncode:
        pytest.skip("no static libc to link against")
    host = subprocess.Popen([str(exe)])
    try:
        time.sleep(0.1)
        one_line_error(run(*attach_args(host.pid, counter, f"{exe}:main")), "statically linked")
        assert host.poll() is None
    finally:
        host.kill()
        host.wait()


def test_stripped_host_names_fail_clearly_and_libc_still_works(counter, loop_build):
    exe = loop_build / "loop_host-stripped"
    shutil.copy(build_loop_host(loop_build), exe)
    if shutil.which("strip") is None:
        pytest.skip("strip is not installed")
    subprocess.run(["strip", str(exe)], check=True)
    host = LoopHost.start(exe, threads=2)
    try:
        one_line_error(run(*attach_args(host.pid, counter, f"{exe}:target")), "no function 'target'",
                       "has no function symbols: name an address", code=2)
        ok = run(*attach_args(host.pid, counter, "libc.so.6:labs"))
        assert ok.returncode == 0, ok.stderr
        assert "every patched byte restored" in ok.stderr
        calls, wrong = host.finish()
        assert wrong == 0
    finally:
        host.kill()


def test_detach_of_a_process_without_attach(loop_build):
    host = LoopHost.start(build_loop_host(loop_build), threads=1)
    try:
        one_line_error(run("detach", str(host.pid)), "no attached bpftime session", code=2)
        one_line_error(run("detach", "/bpftime-0-nosuchsession"), "no such session", code=2)
    finally:
        host.kill()


def test_signal_during_attach_leaves_nothing_patched(counter, loop_build):
    """SIGINT at any moment of the attach: the command ends with one line and the
    process is never left patched."""
    from test_attach import live_bytes

    host = LoopHost.start(build_loop_host(loop_build), threads=2)
    try:
        for delay in (0.3, 0.6, 0.9):
            cmd = subprocess.Popen([sys.executable, "-m", "cli.main",
                                    *attach_args(host.pid, counter, "libc.so.6:labs")[:-2]],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            time.sleep(delay)
            cmd.send_signal(2)
            _, err = cmd.communicate(timeout=60)
            assert "Traceback" not in err, err
            # 0: detached; 1: stopped before the injection; 130 or -SIGINT: before any of it
            assert cmd.returncode in (0, 1, 130, -2), err
            live, on_disk = live_bytes(host.pid, "libc.so.6:labs")
            assert live == on_disk, f"patched after SIGINT at {delay} s: {err}"
        assert host.finish()[1] == 0
    finally:
        host.kill()


def test_process_started_by_bpftime_load_is_refused(counter, loop_build):
    exe = build_loop_host(loop_build)
    load = subprocess.Popen([sys.executable, "-m", "cli.main", "load", str(counter), "--prog",
                             "count_any", "--attach", f"count_any=uprobe:{exe}:target", "--",
                             str(exe), "1"], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        from bpftime.inject.attach_list import list_sessions

        deadline = time.monotonic() + 30
        rows: list = []
        while not rows:
            assert time.monotonic() < deadline, "the load session did not start"
            rows = [r for r in list_sessions() if r.kind == "load" and r.creator == load.pid
                    and r.state == "installed"]
            time.sleep(0.05)
        pid = rows[0].pid
        one_line_error(run(*attach_args(pid, counter, "libc.so.6:labs")),
                       "already runs the extensions", "bpftime load")
        one_line_error(run("detach", str(pid)), "started by bpftime load")
    finally:
        load.stdin.close()
        load.wait(timeout=30)


def test_agent_too_slow_is_given_up_and_leaves_nothing_patched(counter, loop_build):
    """With no time at all for the agent to report, attach fails clearly, and the
    agent (whenever it runs) leaves the process as it was."""
    from bpftime.inject.attach import attach_prepared, attach_request
    from bpftime.errors import AttachError
    from bpftime.inject.prepare import prepare
    from test_attach import live_bytes

    host = LoopHost.start(build_loop_host(loop_build), threads=2)
    try:
        exe = os.readlink(f"/proc/{host.pid}/exe")
        proc, req = attach_request(host.pid, counter, ("count_any",), (f"count_any=uprobe:{exe}:target",))
        prepared = prepare(req, host.pid)
        given_up = 0
        for _ in range(5):
            try:
                att = attach_prepared(proc, prepared, timeout=0)
            except AttachError as err:   # the usual case
                assert "did not report the attach within 0 s" in str(err)
                given_up += 1
            else:                        # the agent was quicker than the first look
                att.detach()
                att.close()
            live, on_disk = live_bytes(host.pid, "target")
            assert live == on_disk
        assert given_up > 0
        att = attach_prepared(proc, prepared)   # and the next attach works
        att.detach()
        att.close()
        assert host.finish()[1] == 0
    finally:
        host.kill()


def test_stopped_process_is_refused_and_stays_stopped(counter):
    host = subprocess.Popen(["sleep", "30"])
    try:
        os.kill(host.pid, 19)   # SIGSTOP
        deadline = time.monotonic() + 10
        while Path(f"/proc/{host.pid}/stat").read_text().split(") ")[1][0] != "T":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        one_line_error(run(*attach_args(host.pid, counter, "libc.so.6:labs")), "is stopped",
                       "kill -CONT")
        assert Path(f"/proc/{host.pid}/stat").read_text().split(") ")[1][0] == "T"
    finally:
        host.kill()
        host.wait()
