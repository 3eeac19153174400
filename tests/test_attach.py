"""bpftime attach / detach / list on processes started without bpftime: 50
attach/detach cycles under 4 busy threads, PIE and non-PIE, entries in the
executable, in libc and in a library dlopen'ed after start; the CLI's foreground
loop, detach from another terminal, signals. Needs ptrace rights (root here)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_attach_host import LoopHost, build_loop_host, build_plugin, loop_build  # noqa: F401

REPO = Path(__file__).resolve().parents[1]
CYCLES = 50


@pytest.fixture(scope="module")
def counter(bpf_object) -> Path:
    return bpf_object("counter")


@pytest.fixture
def host(loop_build):
    started: list[LoopHost] = []

    def start(pie: bool = True, plugin: bool = False, threads: int = 4) -> LoopHost:
        exe = build_loop_host(loop_build, pie)
        h = LoopHost.start(exe, threads, build_plugin(loop_build) if plugin else None)
        started.append(h)
        return h

    yield start
    for h in started:
        h.kill()


def live_bytes(pid: int, spec: str, n: int = 16) -> tuple[bytes, bytes]:
    """(bytes at the entry in the process's memory, the same bytes in its file)."""
    from bpftime.hook.resolve import Resolver

    entry = Resolver(None, pid).resolve(spec)
    on_disk = entry.body[:n]
    with open(f"/proc/{pid}/mem", "rb") as mem:
        mem.seek(entry.address)
        live = mem.read(len(on_disk))
    return live, on_disk


def request(pid: int, obj: Path, entries: list[str], kind: str = "uprobe"):
    from bpftime.inject.attach import attach_request
    from bpftime.inject.prepare import prepare

    proc, req = attach_request(pid, obj, ("count_any",), tuple(f"count_any={kind}:{e}" for e in entries))
    return proc, prepare(req, pid)


def wait_hits(att, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while min(att.hits()) == 0:
        assert time.monotonic() < deadline, f"no hit within {timeout} s: {att.hits()}"
        time.sleep(0.001)
    return att.hits()


@pytest.mark.parametrize("kind", ["uprobe", "uretprobe"])
def test_fifty_attach_detach_cycles_under_four_threads(host, counter, kind):
    """Return addresses hijacked at detach time come back through return trampolines
    that stay mapped: uretprobes survive the cycles too."""
    from bpftime.inject.attach import attach_prepared
    from bpftime.inject.attach_records import AttachState

    h = host(pie=True)
    exe = Path(os.readlink(f"/proc/{h.pid}/exe"))
    proc, prepared = request(h.pid, counter, [f"{exe}:target"], kind)
    started = time.monotonic()
    for cycle in range(CYCLES):
        att = attach_prepared(proc, prepared)
        try:
            assert live_bytes(h.pid, "target")[0][0] == 0xE9   # patched while attached
            assert wait_hits(att)[0] > 0, f"cycle {cycle}"
            record = att.detach()
            assert record.state == AttachState.DETACHED and record.removed == 1
        finally:
            att.close()
    elapsed = time.monotonic() - started
    live, on_disk = live_bytes(h.pid, "target")
    assert live == on_disk
    calls, wrong = h.finish()
    assert wrong == 0 and calls > 0
    assert elapsed < 40, f"{CYCLES} cycles took {elapsed:.1f} s"


@pytest.mark.parametrize("pie", [True, False], ids=["pie", "nopie"])
def test_executable_libc_and_dlopened_library(host, counter, pie):
    from bpftime.inject.attach import attach

    h = host(pie=pie, plugin=True)
    exe = Path(os.readlink(f"/proc/{h.pid}/exe"))
    specs = [f"{exe}:target", "libc.so.6:labs", "libplugin.so:plugin_fn"]
    att = attach(h.pid, counter, ("count_any",), tuple(f"count_any=uprobe:{e}" for e in specs))
    try:
        assert all(n > 0 for n in wait_hits(att))
        att.detach()
        time.sleep(0.01)   # calls that were in flight finish
        (calls,) = [int.from_bytes(v, "little") for _, v in att.live.maps[0].map.items()]
        # every counted hit ran the extension (its first update races between threads)
        assert sum(att.hits()) - 4 <= calls <= sum(att.hits())
    finally:
        att.close()
    for spec in ("target", "libc.so.6:labs", "libplugin.so:plugin_fn"):
        live, on_disk = live_bytes(h.pid, spec)
        assert live == on_disk, spec
    assert h.finish()[1] == 0


def bpftime(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli.main", *args], cwd=REPO, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def wait_attached(pid: int, timeout: float = 30.0) -> None:
    from bpftime.inject.attach_list import attached_sessions

    deadline = time.monotonic() + timeout
    while not attached_sessions(pid):
        assert time.monotonic() < deadline, "attach did not happen"
        time.sleep(0.05)


def test_cli_detach_after_dumps_maps(host, counter, tmp_path):
    h = host(pie=True)
    dump = tmp_path / "maps.json"
    cmd = bpftime("attach", str(h.pid), str(counter), "--prog", "count_any", "--attach",
                  f"count_any=uprobe:{os.readlink(f'/proc/{h.pid}/exe')}:target",
                  "--detach-after", "0.5", "--dump-maps", str(dump))
    out, err = cmd.communicate(timeout=60)
    assert cmd.returncode == 0, err
    assert f"attached to process {h.pid}" in err and "every patched byte restored" in err
    entries = json.loads(dump.read_text())["maps"]["calls"]
    assert entries[0]["key"] == h.pid and entries[0]["value"] > 0
    assert live_bytes(h.pid, "target")[0] == live_bytes(h.pid, "target")[1]
    assert h.finish()[1] == 0


def test_detach_from_another_terminal_ends_the_attach(host, counter):
    h = host(pie=False)
    cmd = bpftime("attach", str(h.pid), str(counter), "--prog", "count_any",
                  "--attach", "count_any=uprobe:libc.so.6:labs")
    try:
        wait_attached(h.pid)
        listed = subprocess.run([sys.executable, "-m", "cli.main", "list", "--json"], cwd=REPO,
                                capture_output=True, text=True, check=True)
        row = next(r for r in json.loads(listed.stdout) if r["pid"] == h.pid)
        assert row["kind"] == "attach" and row["state"] == "attached"
        assert row["extensions"][0]["entry"].startswith("libc.so.6:")
        second = subprocess.run([sys.executable, "-m", "cli.main", "attach", str(h.pid), str(counter),
                                 "--prog", "count_any", "--attach", "count_any=uprobe:libc.so.6:labs"],
                                cwd=REPO, capture_output=True, text=True)
        assert second.returncode == 1 and "already runs the extensions" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1
        done = subprocess.run([sys.executable, "-m", "cli.main", "detach", str(h.pid)], cwd=REPO,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert "every patched byte restored" in done.stdout
        out, err = cmd.communicate(timeout=30)
    finally:
        if cmd.poll() is None:
            cmd.kill()
    assert cmd.returncode == 0 and "detached by another command" in err
    assert live_bytes(h.pid, "libc.so.6:labs")[0] == live_bytes(h.pid, "libc.so.6:labs")[1]
    assert h.finish()[1] == 0


@pytest.mark.parametrize("signo", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_detaches_cleanly(host, counter, signo):
    h = host(pie=True)
    cmd = bpftime("attach", str(h.pid), str(counter), "--prog", "count_any", "--attach",
                  f"count_any=uprobe:{os.readlink(f'/proc/{h.pid}/exe')}:target")
    try:
        wait_attached(h.pid)
        cmd.send_signal(signo)
        out, err = cmd.communicate(timeout=30)
    finally:
        if cmd.poll() is None:
            cmd.kill()
    assert cmd.returncode == 0, err
    assert f"({signal.Signals(signo).name})" in err and "Traceback" not in err
    assert live_bytes(h.pid, "target")[0] == live_bytes(h.pid, "target")[1]
    assert h.finish()[1] == 0


def test_eim_deployment_attaches_with_host_externs(host_binary, tmp_path):
    """specs/demo.observer.yaml on a running demo_host: the observer reads the
    request and the host variable demo_counter (an extern linked at attach time)."""
    from conftest import build_bpf

    for name in ("demo_observer", "demo_rewriter"):
        build_bpf(REPO / "specs" / "bpf" / f"{name}.bpf.c", REPO / "specs" / "bpf" / "build")
    host = subprocess.Popen([str(host_binary("demo_host")), "100000000", "1"],
                            stdout=subprocess.DEVNULL)
    dump = tmp_path / "maps.json"
    try:
        time.sleep(0.1)
        cmd = bpftime("attach", str(host.pid), "specs/demo.observer.yaml", "--detach-after", "0.3",
                      "--dump-maps", str(dump))
        out, err = cmd.communicate(timeout=60)
        assert cmd.returncode == 0, err
        assert host.poll() is None, "the host did not survive"
    finally:
        host.kill()
        host.wait()
    maps = json.loads(dump.read_text())["maps"]
    assert maps["per_status"][0]["key"] == 200 and maps["per_status"][0]["value"] > 0
    assert maps["last_counter"][0]["value"] > 0


def test_process_exit_ends_the_attach(host, counter):
    h = host(pie=True, threads=1)
    cmd = bpftime("attach", str(h.pid), str(counter), "--prog", "count_any",
                  "--attach", "count_any=uprobe:libc.so.6:labs")
    try:
        wait_attached(h.pid)
        calls, wrong = h.finish()
        out, err = cmd.communicate(timeout=30)
    finally:
        if cmd.poll() is None:
            cmd.kill()
    assert wrong == 0 and cmd.returncode == 0, err
    assert f"process {h.pid} exited" in err
    assert f"{h.pid} => " in out   # the maps, read after the end


def test_process_of_another_user(counter):
    """As root: the session is handed to the process's user, so its agent can open it."""
    import shutil
    import tempfile

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to run a host as another user")
    out_dir = Path(tempfile.mkdtemp(prefix="bpftime-attach-"))   # readable by that user
    try:
        out_dir.chmod(0o755)
        exe = build_loop_host(out_dir)
        proc = subprocess.Popen(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                 str(exe), "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        h = LoopHost(proc)
        try:
            assert proc.stdout.readline().strip() == "started"
            assert proc.stdout.readline().strip() == "ready"
            cmd = bpftime("attach", str(h.pid), str(counter), "--prog", "count_any",
                          "--attach", "count_any=uprobe:libc.so.6:labs", "--detach-after", "0.3")
            out, err = cmd.communicate(timeout=60)
            assert cmd.returncode == 0, err
            assert f"{h.pid} => " in out
            assert h.finish()[1] == 0
        finally:
            h.kill()
    finally:
        shutil.rmtree(out_dir)


def test_detach_after_the_attach_command_was_killed(host, counter):
    """kill -9 of bpftime attach leaves the extensions running; bpftime detach PID
    still restores every byte and removes the orphaned session."""
    from bpftime.inject.attach_list import attached_sessions

    h = host(pie=True, threads=2)
    cmd = bpftime("attach", str(h.pid), str(counter), "--prog", "count_any",
                  "--attach", "count_any=uprobe:libc.so.6:labs")
    wait_attached(h.pid)
    name = attached_sessions(h.pid)[0].name
    cmd.kill()
    cmd.communicate(timeout=30)
    listed = subprocess.run([sys.executable, "-m", "cli.main", "list"], cwd=REPO,
                            capture_output=True, text=True, check=True)
    assert f"{name}  attach by {cmd.pid} (gone)" in listed.stdout
    assert live_bytes(h.pid, "libc.so.6:labs")[0] != live_bytes(h.pid, "libc.so.6:labs")[1]
    done = subprocess.run([sys.executable, "-m", "cli.main", "detach", str(h.pid)], cwd=REPO,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    live, on_disk = live_bytes(h.pid, "libc.so.6:labs")
    assert live == on_disk
    assert not Path("/dev/shm" + name).exists()
    assert h.finish()[1] == 0
