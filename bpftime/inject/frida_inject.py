"""Loading the agent library into a running process with Frida's injector, and the
checks that turn the usual reasons it cannot be done into one clear line first."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bpftime.errors import AttachError, NotFound

ATTACH_ENTRY = "bpftime_agent_attach"
DETACH_ENTRY = "bpftime_agent_detach"
PTRACE_SCOPE = Path("/proc/sys/kernel/yama/ptrace_scope")
CAP_SYS_PTRACE = 19


@dataclass(frozen=True)
class Target:
    """A running process that may be attached to."""

    pid: int
    exe: Path
    uid: int
    gid: int
    start: int          # start time in clock ticks (/proc/PID/stat field 22)

    def alive(self) -> bool:
        """Still running, and still the same process (not a reused pid, not a zombie)."""
        stat = _stat(self.pid)
        return stat is not None and stat[1] != "Z" and stat[2] == self.start


def _stat(pid: int) -> tuple[str, str, int] | None:
    """(comm, state, start time) of process `pid`, None if there is none."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1:text.rindex(")")]
    fields = text[text.rindex(")") + 2:].split()
    return comm, fields[0], int(fields[19])


def exists(pid: int) -> bool:
    """Whether there is a process `pid` (a zombie too)."""
    return pid > 0 and _stat(pid) is not None


def _status_field(pid: int, name: str) -> list[str]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key == name:
                return value.split()
    except OSError:
        pass
    return []


def _may_ptrace(target_uid: int) -> str | None:
    """Why this process may not ptrace one of `target_uid`, or None if it may."""
    caps = int((_status_field(os.getpid(), "CapEff") or ["0"])[0], 16)
    privileged = bool(caps >> CAP_SYS_PTRACE & 1)
    try:
        scope = int(PTRACE_SCOPE.read_text())
    except (OSError, ValueError):
        scope = 0
    if scope == 3:
        return ("ptrace is disabled on this machine (kernel.yama.ptrace_scope = 3, "
                "until reboot)")
    if privileged:
        return None
    if target_uid != os.geteuid():
        return (f"it belongs to uid {target_uid}: attaching needs the same user or "
                f"CAP_SYS_PTRACE (run as root)")
    if scope >= 1:
        return (f"kernel.yama.ptrace_scope = {scope} lets only "
                f"{'descendants' if scope == 1 else 'CAP_SYS_PTRACE holders'} be traced: run as "
                f"root, grant CAP_SYS_PTRACE, or set /proc/sys/kernel/yama/ptrace_scope to 0")
    return None


def _is_dynamic(pid: int) -> bool:
    """Whether the process has a dynamic loader mapped (the agent is loaded with it)."""
    try:
        maps = Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False
    return any(os.path.basename(line.split()[-1]).startswith("ld-")
               for line in maps.splitlines() if "/" in line)


def _tracer(pid: int, settle: float = 5.0) -> int:
    """The pid of the process tracing `pid` (0: none). Frida's injector in this
    process traces it for a moment after each injection (to unload its copy of the
    library): that one is waited for."""
    deadline = time.monotonic() + settle
    while True:
        tracer = int((_status_field(pid, "TracerPid") or ["0"])[0])
        ours = tracer and (_status_field(tracer, "Tgid") or ["0"])[0] == str(os.getpid())
        if not ours or time.monotonic() > deadline:
            return tracer
        time.sleep(0.005)


def check_target(pid: int) -> Target:
    """The process `pid`, if the agent can be injected into it; AttachError saying
    why not otherwise (no such process, a zombie, a kernel thread, ptrace refused,
    already traced, statically linked)."""
    if pid <= 0:
        raise NotFound(f"{pid} is not a process id")
    if pid == os.getpid():
        raise AttachError(f"process {pid} is this bpftime command itself")
    stat = _stat(pid)
    if stat is None:
        raise NotFound(f"process {pid}: no such process")
    comm, state, start = stat
    if state == "Z":
        raise AttachError(f"process {pid} ({comm}) has exited (a zombie)")
    if state == "T":
        raise AttachError(f"process {pid} ({comm}) is stopped: injecting would resume it; "
                          f"continue it first (kill -CONT {pid})")
    try:
        exe = Path(os.readlink(f"/proc/{pid}/exe").removesuffix(" (deleted)"))
    except FileNotFoundError:
        raise AttachError(f"process {pid} ({comm}) has no executable (a kernel thread?)") from None
    except PermissionError:
        exe = None
    uid = int((_status_field(pid, "Uid") or ["0", "0"])[1])
    gid = int((_status_field(pid, "Gid") or ["0", "0"])[1])
    why = _may_ptrace(uid)
    if why is None and exe is None:
        why = f"/proc/{pid}/exe may not be read"
    if why is not None:
        raise AttachError(f"process {pid} ({comm}) may not be traced: {why}")
    tracer = _tracer(pid)
    if tracer:
        raise AttachError(f"process {pid} ({comm}) is already traced by process {tracer} "
                          f"(a debugger?); detach that first")
    if not _is_dynamic(pid):
        raise AttachError(f"process {pid} ({exe}) is statically linked: the agent library cannot "
                          f"be loaded into it (use a dynamically linked build)")
    return Target(pid, exe, uid, gid, start)


def _frida():
    try:
        import frida
    except ImportError:
        raise AttachError("bpftime attach needs the frida Python package "
                          "(pip install frida)") from None
    return frida


@cache
def _device():
    return _frida().get_local_device()


def inject(target: Target, library: str, entrypoint: str, data: str) -> None:
    """Load `library` into the target (once: later calls reuse it) and call
    `entrypoint(data, &stay_resident, NULL)` there, on a thread of Frida's. Returns
    once it has been started; AttachError when the injection fails."""
    frida = _frida()

    try:
        _device().inject_library_file(target.pid, library, entrypoint, data)
    except frida.ProcessNotFoundError:
        raise AttachError(f"process {target.pid}: it exited during attach") from None
    except frida.PermissionDeniedError as err:
        raise AttachError(f"process {target.pid} may not be traced ({err}): attaching needs the "
                          f"same user or CAP_SYS_PTRACE, and kernel.yama.ptrace_scope 0 "
                          f"(or root)") from None
    except (frida.NotSupportedError, frida.ProcessNotRespondingError, frida.TransportError,
            frida.InvalidOperationError, frida.TimedOutError, frida.InvalidArgumentError) as err:
        if not target.alive():
            raise AttachError(f"process {target.pid}: it exited during attach") from None
        raise AttachError(f"process {target.pid}: Frida cannot inject the agent: {err}") from None
