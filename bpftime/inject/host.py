"""The host process of `bpftime load`: checking the program, starting it with the
agent preloaded and the session named in its environment, forwarding signals and
turning its end into the command's exit status."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bpftime.errors import LoadError

SESSION_ENV = "BPFTIME_SESSION"
ELF_MAGIC = b"\x7fELF"
# Signals the command receives and hands on to the host.
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
SI_KERNEL = 0x80   # si_code of a signal the terminal sent to the whole process group


def resolve_program(program: str) -> Path:
    """The ELF executable `program` names (a path, or a name looked up in PATH)."""
    found = program if "/" in program else shutil.which(program)
    if found is None:
        raise LoadError(f"{program}: no such program in PATH")
    path = Path(found)
    if not path.is_file():
        raise LoadError(f"{program}: no such file")
    if not os.access(path, os.X_OK):
        raise LoadError(f"{program}: not executable")
    with path.open("rb") as f:
        if f.read(4) != ELF_MAGIC:
            raise LoadError(f"{program}: not an ELF executable (bpftime load needs the binary, "
                            f"not a script)")
    return path.resolve()


def preload_env(agent: Path, session: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The host's environment: `base` plus the agent first in LD_PRELOAD and the session."""
    env = dict(os.environ if base is None else base)
    previous = env.get("LD_PRELOAD", "")
    env["LD_PRELOAD"] = f"{agent} {previous}".strip()
    env[SESSION_ENV] = session
    return env


def exit_status(wait_status: int) -> int:
    """A shell's view of a wait status: the exit code, or 128 + the killing signal."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    return os.waitstatus_to_exitcode(wait_status)


@dataclass
class Host:
    """A started host. The caller's thread has FORWARDED and SIGCHLD blocked while it
    runs, so `wait` can take them synchronously between event polls."""

    pid: int
    popen: subprocess.Popen
    status: int | None = None

    @classmethod
    def start(cls, program: Path, args: list[str], env: dict[str, str]) -> "Host":
        signal.pthread_sigmask(signal.SIG_BLOCK, (*FORWARDED, signal.SIGCHLD))
        try:
            popen = subprocess.Popen([str(program), *args], env=env,
                                     preexec_fn=_unblock_all)
        except OSError:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, (*FORWARDED, signal.SIGCHLD))
            raise
        return cls(popen.pid, popen)

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for the host to end, forwarding the signals the
        command receives meanwhile; the host's exit status once it has ended."""
        if self.status is not None:
            return self.status
        info = signal.sigtimedwait((*FORWARDED, signal.SIGCHLD), timeout)
        if info is not None and info.si_signo != signal.SIGCHLD and info.si_code != SI_KERNEL:
            # Sent to the command alone (kill, a supervisor): hand it on. A key the
            # terminal turned into a signal already reached the host's process group.
            self.signal(info.si_signo)
        pid, wait_status = os.waitpid(self.pid, os.WNOHANG)
        if pid == self.pid:
            self.status = exit_status(wait_status)
            self.popen.returncode = self.status
        return self.status

    def signal(self, signo: int) -> None:
        if self.status is None:
            try:
                os.kill(self.pid, signo)
            except ProcessLookupError:
                pass

    def finish(self) -> None:
        """Kill the host if it still runs (the command is failing) and restore the mask."""
        try:
            if self.status is None:
                self.signal(signal.SIGKILL)
                self.status = exit_status(os.waitpid(self.pid, 0)[1])
        finally:
            waited = (*FORWARDED, signal.SIGCHLD)
            while signal.sigpending() & set(waited):
                signal.sigtimedwait(waited, 0)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, waited)


def _unblock_all() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, ())
