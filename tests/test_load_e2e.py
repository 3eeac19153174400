"""`bpftime load` end to end: a real host started with the agent preloaded, the
extensions running natively at its functions, the maps read when it exits."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_load_support import compile_bpf, example_object, host

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo():
    """demo(opt="O2", pie=True, cet=False) -> the demo host binary."""
    return host


@pytest.fixture(scope="module")
def example():
    """example(name) -> the example's BPF object."""
    return example_object


def bpftime(*args: str, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cli.main", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, **kw)


def load_dump(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `bpftime load --dump-maps` and return the process and the dumped maps."""
    dump = tmp_path / "maps.json"
    proc = bpftime("load", "--dump-maps", str(dump), *args)
    maps = json.loads(dump.read_text())["maps"] if dump.exists() else {}
    return proc, maps


@pytest.mark.parametrize("opt, pie", [("O2", True), ("O0", True), ("O2", False), ("O0", False)])
def test_uprobe_counts_every_call_from_every_thread(tmp_path, demo, example, opt, pie):
    proc, maps = load_dump(tmp_path, str(example("counter")), "--",
                           str(demo(opt, pie)), "count", "30000", "4")
    assert proc.returncode == 0, proc.stderr
    assert "calls 30000 sum 900000000" in proc.stdout       # the host's own result is unchanged
    assert maps == {"hits": [{"key": 0, "value": 30000}]}    # counter.rodata left out, as in text
    assert proc.stdout.endswith("hits (array):\n  0 => 30000\n")


@pytest.mark.parametrize("opt, pie, cet", [("O2", True, True), ("O0", False, True), ("O2", False, False)])
def test_prologues_endbr64_push_and_rip_relative(tmp_path, demo, example, opt, pie, cet):
    """demo_bump reads a global RIP-relatively first (after endbr64 with CET, after
    push rbp at -O0): the displaced instructions must still reach it."""
    proc, maps = load_dump(tmp_path, str(example("counter")), "--attach",
                           "count_target=uprobe:demo:demo_bump", "--", str(demo(opt, pie, cet)),
                           "bump", "5000")
    assert proc.returncode == 0, proc.stderr
    assert "bumps 5000" in proc.stdout
    assert maps["hits"] == [{"key": 0, "value": 5000}]


def test_trace_printk_lines_and_the_agents_report(tmp_path, demo, example):
    proc, _ = load_dump(tmp_path, str(example("counter")), "--stats", "--", str(demo()),
                        "count", "10", "1")
    assert proc.returncode == 0, proc.stderr
    line = next(l for l in proc.stdout.splitlines() if l.startswith("demo_target(0)"))
    assert line.endswith("hit 1")
    assert re.search(r"agent in process \d+: 1 images mapped, 1 hooks applied in [0-9.]+ ms",
                     proc.stderr), proc.stderr


def test_uretprobe_histogram_counts_every_return(tmp_path, demo, example):
    proc, maps = load_dump(tmp_path, str(example("latency")), "--", str(demo()), "work", "300")
    assert proc.returncode == 0, proc.stderr
    buckets = {e["key"]: e["value"] for e in maps["hist"]}
    assert sum(buckets.values()) == 300
    assert len([b for b, n in buckets.items() if n]) >= 3   # work doubles with i % 16
    assert maps["start"] == []                              # every entry met its return


def test_attach_option_moves_a_program_to_a_return_and_a_short_leaf(tmp_path, demo, example):
    host = demo()
    proc, maps = load_dump(tmp_path, str(example("counter")),
                           "--attach", f"count_target=uretprobe:{host.name}:demo_target",
                           "--", str(host), "count", "1000", "2")
    assert proc.returncode == 0, proc.stderr
    assert maps["hits"] == [{"key": 0, "value": 1000}]
    for kind in ("uprobe", "uretprobe"):   # lea eax,[rdi+rsi]; ret: shorter than a jmp
        proc, maps = load_dump(tmp_path, str(example("counter")),
                               "--attach", f"count_target={kind}:demo:demo_add",
                               "--", str(host), "add", "2", "3")
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.splitlines()[0] == "5"
        assert maps["hits"] == [{"key": 0, "value": 1}]


@pytest.mark.parametrize("pie", [True, False])
def test_uprobe_on_a_libc_function_counts_every_call(tmp_path, demo, example, pie):
    proc, maps = load_dump(tmp_path, str(example("counter")),
                           "--attach", "count_target=uprobe:libc.so.6:rand_r",
                           "--", str(demo("O2", pie)), "rand", "12345")
    assert proc.returncode == 0, proc.stderr
    assert "rand 12345 odd " in proc.stdout
    assert maps["hits"] == [{"key": 0, "value": 12345}]


def test_libc_functions_per_process_and_children_not_extended(tmp_path, example):
    proc, maps = load_dump(tmp_path, str(example("malloc_free")), "--",
                           "/bin/sh", "-c", "ls -l / >/dev/null; ls -l / >/dev/null; true")
    assert proc.returncode == 0, proc.stderr
    counts = sorted((e["value"]["mallocs"] for e in maps["calls"]), reverse=True)
    assert counts[0] > 10                      # the shell
    # A forked child runs the shell's (extended) code until it execs `ls`, which starts
    # without the agent: `ls -l` alone makes hundreds of mallocs, none counted.
    assert all(n <= 5 for n in counts[1:]), counts


def test_host_environment_is_left_as_found(tmp_path, example):
    proc, _ = load_dump(tmp_path, str(example("malloc_free")), "--", "/usr/bin/env")
    assert proc.returncode == 0, proc.stderr
    assert "BPFTIME_SESSION" not in proc.stdout
    assert "LD_PRELOAD" not in proc.stdout      # the agent took itself out, and it was alone
    libm = "/usr/lib/x86_64-linux-gnu/libm.so.6"
    proc = subprocess.run([sys.executable, "-m", "cli.main", "load", str(example("malloc_free")),
                           "--", "/usr/bin/env"], cwd=REPO, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "LD_PRELOAD": libm})
    assert proc.returncode == 0, proc.stderr
    assert f"LD_PRELOAD={libm}\n" in proc.stdout       # the user's own preload stays


def test_ring_buffer_events_decoded_through_btf(tmp_path, demo, example):
    proc, _ = load_dump(tmp_path, str(example("ringbuf")), "--event-type", "event", "--",
                        str(demo()), "events", "6")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith('{"map"')]
    assert [(e["event"]["id"], e["event"]["name"]) for e in events] == [
        (0, "alpha"), (1, "beta"), (2, "gamma"), (3, "delta"), (4, "alpha"), (5, "beta")]
    proc, _ = load_dump(tmp_path, str(example("ringbuf")), "--", str(demo()), "events", "1")
    (line,) = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith('{"map"')]
    assert bytes.fromhex(line["hex"])[8:16] == bytes(8)     # id 0, undecoded


def test_override_return_through_a_deployment(tmp_path, demo, example):
    example("override")
    host = demo()
    assert subprocess.run([str(host), "check", "1000"], capture_output=True).returncode == 3
    proc = bpftime("load", "examples/override/override.deploy.yaml", "--", str(host), "check", "1000")
    assert "access granted" in proc.stdout, proc.stderr
    assert proc.returncode == 0


def test_exit_status_is_the_hosts(tmp_path, demo, example):
    proc, maps = load_dump(tmp_path, str(example("counter")), "--", str(demo()), "check", "5")
    assert proc.returncode == 3
    assert maps["hits"] == [{"key": 0, "value": 0}]


# --- concealed entries --------------------------------------------------------------

def _code_segments(binary: Path) -> tuple[list[tuple[int, bytes]], list[tuple[str, int, int]]]:
    """The executable PT_LOAD segments of `binary` as (vaddr, bytes on disk), and its
    functions as (name, start, end) from .symtab or, stripped, .dynsym."""
    from elftools.elf.elffile import ELFFile

    with binary.open("rb") as f:
        elf = ELFFile(f)
        segments = [(seg["p_vaddr"], seg.data()) for seg in elf.iter_segments("PT_LOAD")
                    if seg["p_flags"] & 1]
        table = elf.get_section_by_name(".symtab") or elf.get_section_by_name(".dynsym")
        functions = [(sym.name, sym["st_value"], sym["st_value"] + sym["st_size"])
                     for sym in table.iter_symbols()
                     if sym["st_info"]["type"] in ("STT_FUNC", "STT_GNU_IFUNC") and sym["st_size"]]
    return segments, functions


def _host_pid(cli_pid: int, name: str, limit: float = 20) -> int:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        for task in Path(f"/proc/{cli_pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                if Path(f"/proc/{child}/comm").read_text().strip() == name[:15]:
                    return int(child)
        time.sleep(0.05)
    raise AssertionError(f"no host {name} under process {cli_pid}")


def _load_bias(pid: int, binary: Path) -> int:
    """Where the file's offset 0 is mapped, minus where it was linked to be."""
    from elftools.elf.elffile import ELFFile

    with binary.open("rb") as f:
        linked = min(seg["p_vaddr"] for seg in ELFFile(f).iter_segments("PT_LOAD")) & ~0xFFF
    real = os.path.realpath(binary)
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 6 and os.path.realpath(parts[5]) == real and int(parts[2], 16) == 0:
            return int(parts[0].split("-")[0], 16) - linked
    raise AssertionError(f"{binary} is not mapped in {pid}")


def _changed_functions(pid: int, binary: Path) -> set[str]:
    """Functions of `binary` whose bytes in the live process differ from the file."""
    segments, functions = _code_segments(binary)
    bias = _load_bias(pid, binary)
    changed: set[str] = set()
    with open(f"/proc/{pid}/mem", "rb") as mem:
        for vaddr, disk in segments:
            mem.seek(bias + vaddr)
            live = mem.read(len(disk))
            for i in (i for i in range(len(disk)) if live[i] != disk[i]):
                names = [n for n, lo, hi in functions if lo <= vaddr + i < hi]
                changed.add(names[0] if names else f"{vaddr + i:#x}")
    return changed


@pytest.mark.parametrize("pie", [True, False])
def test_concealed_entries_keep_their_bytes(demo, example, pie):
    """Every byte of code of the host and of libc is the file's, except at the two
    entries extensions use."""
    host = demo("O2", pie)
    libc = Path("/usr/lib/x86_64-linux-gnu/libc.so.6")
    cli = subprocess.Popen([sys.executable, "-m", "cli.main", "load", str(example("counter")),
                            "--attach", "count_target=uprobe:demo:demo_target",
                            "--attach", "count_target=uprobe:libc.so.6:rand_r", "--",
                            str(host), "--hold", "count", "100", "2"], cwd=REPO,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.stdout.readline() == b"calls 100 sum 10000\n"
        pid = _host_pid(cli.pid, host.name)
        assert _changed_functions(pid, host) == {"demo_target"}
        if libc.exists():
            assert _changed_functions(pid, libc) == {"rand_r"}
    finally:
        cli.stdin.close()
        cli.wait(30)
    assert cli.returncode == 0


# --- signals, cleanup, failures ------------------------------------------------------

def _sessions_of(pid: int) -> list[Path]:
    """The sessions process `pid` created (named /bpftime-PID-…)."""
    return list(Path("/dev/shm").glob(f"bpftime-{pid}-*"))


def test_ctrl_c_stops_the_host_and_removes_the_session(demo, example):
    host = demo()
    cli = subprocess.Popen([sys.executable, "-m", "cli.main", "load", str(example("counter")), "--",
                            str(host), "--hold", "count", "10", "1"], cwd=REPO,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert cli.stdout.readline() == b"calls 10 sum 100\n"
        pid = _host_pid(cli.pid, host.name)
        assert len(_sessions_of(cli.pid)) == 1
        cli.send_signal(signal.SIGINT)
        cli.wait(30)
    finally:
        if cli.poll() is None:
            cli.kill()
        cli.stdin.close()
    assert cli.returncode == 128 + signal.SIGINT
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert _sessions_of(cli.pid) == []


def test_extension_failing_at_run_time_leaves_the_host_running(tmp_path, demo):
    source = tmp_path / "bad_read.bpf.c"
    source.write_text("""
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);
         __type(key, __u32); __type(value, __s64); } result SEC(".maps");
SEC("uprobe/demo:demo_target")
int read_bad(struct pt_regs *ctx)
{
    __u64 word = 0; __u32 key = 0;
    __s64 err = bpf_probe_read_user(&word, sizeof(word), (void *)16);
    bpf_map_update_elem(&result, &key, &err, BPF_ANY);
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
""")
    obj = compile_bpf(source)
    proc, maps = load_dump(tmp_path, str(obj), "--", str(demo()), "count", "100", "2")
    assert proc.returncode == 0, proc.stderr
    assert "calls 100 sum 10000" in proc.stdout
    assert maps["result"][0]["value"] == -14      # -EFAULT, and the host went on


@pytest.mark.parametrize("args, message", [
    (["--attach", "count_target=uprobe:demo:no_such_function"], "no function 'no_such_function'"),
    (["--attach", "count_target=uprobe:libnope.so.9:f"], "library 'libnope.so.9'"),
    (["--attach", "count_target=kprobe:x"], "--attach"),
    (["--prog", "nope"], "no program named 'nope'"),
    (["--attach", "count_target=uprobe:/usr/lib/x86_64-linux-gnu/libz.so.1:inflate"],
     "is not loaded by"),
])
def test_bad_attach_is_one_line_and_host_never_starts(tmp_path, demo, example, args, message):
    if "libz" in args[-1] and not Path(args[-1].split(":")[1]).exists():
        pytest.skip("no libz.so.1 here")
    proc = bpftime("load", str(example("counter")), *args, "--", str(demo()), "count", "1", "1")
    assert proc.returncode != 0
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "calls" not in proc.stdout              # the host did not run


def test_bad_host_and_rejected_extension(tmp_path, demo, example):
    for host, message in ((str(tmp_path / "missing"), "no such file"),
                          (str(REPO / "examples" / "host" / "demo.c"), "not executable")):
        proc = bpftime("load", str(example("counter")), "--", host)
        assert proc.returncode != 0 and message in proc.stderr, proc.stderr
    proc = bpftime("load", str(example("override")), "--", str(demo()), "check", "1")
    assert proc.returncode == 1
    assert "bpf_override_return is not granted" in proc.stderr
    assert "access" not in proc.stdout


def test_malformed_section_name(tmp_path, demo):
    source = tmp_path / "badsec.bpf.c"
    source.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                      'SEC("uprobe/demo_target") int p(void *ctx) { return 0; }\n'
                      'char LICENSE[] SEC("license") = "GPL";\n')
    obj = compile_bpf(source)
    proc = bpftime("load", str(obj), "--", str(demo()), "count", "1", "1")
    assert proc.returncode == 2
    assert "section uprobe/demo_target" in proc.stderr and "BINARY:FUNCTION" in proc.stderr
    assert "calls" not in proc.stdout


def test_perf_event_records_are_printed(tmp_path, demo):
    if (os.cpu_count() or 1) > 64:
        pytest.skip("the test's perf_event_array has 64 slots, one per CPU")
    source = tmp_path / "perf.bpf.c"
    source.write_text("""
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
struct { __uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY); __uint(max_entries, 64);
         __uint(key_size, 4); __uint(value_size, 4); } out SEC(".maps");
SEC("uprobe/demo:demo_target")
int send(struct pt_regs *ctx)
{
    long x = PT_REGS_PARM1(ctx);
    bpf_perf_event_output(ctx, &out, BPF_F_CURRENT_CPU, &x, sizeof(x));
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
""")
    obj = compile_bpf(source)
    proc, _ = load_dump(tmp_path, str(obj), "--", str(demo()), "count", "50", "2")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(l) for l in proc.stdout.splitlines() if l.startswith('{"map"')]
    assert {r["map"] for r in records} == {"out"}
    values = sorted(int.from_bytes(bytes.fromhex(r["hex"])[:8], "little") for r in records)
    assert values == list(range(50))


def test_stale_session_of_a_killed_command_is_removed(tmp_path, demo, example):
    maker = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from bpftime.runtime import Session; s = Session.create(); "
        "print(s.name, flush=True); time.sleep(60)")], stdout=subprocess.PIPE, text=True)
    name = maker.stdout.readline().strip()
    maker.kill()
    maker.wait()
    assert Path("/dev/shm" + name).exists()
    proc, _ = load_dump(tmp_path, str(example("counter")), "--", str(demo()), "count", "1", "1")
    assert proc.returncode == 0, proc.stderr
    assert not Path("/dev/shm" + name).exists()


def test_deployment_links_host_functions_and_variables(host_binary):
    """specs/demo.observer.yaml on tests/hosts/demo_host: the observer reads the host
    global demo_counter (an extern variable), the rewriter calls the host's checksum()
    (an extern function) and writes r->status, both at one entry."""
    from conftest import build_bpf

    for name in ("demo_observer", "demo_rewriter"):
        build_bpf(REPO / "specs" / "bpf" / f"{name}.bpf.c", REPO / "specs" / "bpf" / "build")
    host = host_binary("demo_host")
    dump = REPO / "specs" / "bpf" / "build" / f"maps-{os.getpid()}.json"
    try:
        proc = bpftime("load", "specs/demo.observer.yaml", "--dump-maps", str(dump), "--",
                       str(host), "1000", "2")
        maps = json.loads(dump.read_text())["maps"]
    finally:
        dump.unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr
    refused = sum(1 for i in range(2000) if (4 * ord("0") + i % 7) % 2)   # odd checksum()
    assert f"calls=2000 sum=2006995 status={200 * (2000 - refused) + 403 * refused}" in proc.stdout
    assert maps["per_status"] == [{"key": 200, "value": 2000}]    # counted before the rewrite
    assert 0 < maps["last_counter"][0]["value"] < 2000            # demo_counter, read live


def test_ctrl_c_at_a_terminal_reaches_the_host_once(example):
    """^C typed at the terminal goes to the whole foreground process group: the host
    gets it from the terminal, and the command must not send it a second one."""
    import pty

    script = ("import signal, time\n"
              "n = [0]\n"
              "signal.signal(signal.SIGINT, lambda *a: n.__setitem__(0, n[0] + 1))\n"
              "print('ready', flush=True)\n"
              "while not n[0]: time.sleep(0.01)\n"
              "time.sleep(0.5)\n"
              "print('sigints', n[0], flush=True)\n")
    argv = [sys.executable, "-m", "cli.main", "load", str(example("malloc_free")), "--",
            os.path.realpath(sys.executable), "-c", script]
    pid, fd = pty.fork()
    if pid == 0:   # the child: a new session with the pty as its terminal
        os.chdir(REPO)
        os.execv(argv[0], argv)
    output = b""
    try:
        deadline = time.monotonic() + 60
        while b"ready" not in output and time.monotonic() < deadline:
            output += os.read(fd, 4096)
        os.write(fd, b"\x03")
        while time.monotonic() < deadline:   # to the end: EIO once the command has exited
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert b"sigints 1" in output, output.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0


def test_tail_call_through_a_prog_array_the_object_fills(tmp_path, demo):
    """libbpf's `.values = { [1] = &second }`: the agent puts the image of `second`
    (attached nowhere itself) in slot 1, and bpf_tail_call reaches it."""
    source = tmp_path / "tail.bpf.c"
    source.write_text("""
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 2);
         __type(key, __u32); __type(value, __u64); } hits SEC(".maps");
int second(struct pt_regs *ctx);
struct { __uint(type, BPF_MAP_TYPE_PROG_ARRAY); __uint(max_entries, 4); __type(key, __u32);
         __array(values, int (struct pt_regs *)); } jump SEC(".maps") = {
    .values = { [1] = (void *)&second } };
static void bump(__u32 k)
{
    __u64 *v = bpf_map_lookup_elem(&hits, &k);
    if (v)
        __sync_fetch_and_add(v, 1);
}
SEC("uprobe") int second(struct pt_regs *ctx) { bump(1); return 0; }
SEC("uprobe/demo:demo_target")
int first(struct pt_regs *ctx)
{
    bump(0);
    bpf_tail_call(ctx, &jump, 1);
    bump(0);   /* only when the tail call fails */
    return 0;
}
char LICENSE[] SEC("license") = "GPL";
""")
    proc, maps = load_dump(tmp_path, str(compile_bpf(source)), "--", str(demo()), "count", "300", "3")
    assert proc.returncode == 0, proc.stderr
    assert maps["hits"] == [{"key": 0, "value": 300}, {"key": 1, "value": 300}]
    assert [e["key"] for e in maps["jump"] if e["value"]] == [1]


def _function(binary: Path, name: str) -> tuple[int, bytes]:
    """(link-time address, bytes) of function `name` of `binary`."""
    segments, functions = _code_segments(binary)
    (lo, hi), = [(lo, hi) for n, lo, hi in functions if n == name]
    for vaddr, data in segments:
        if vaddr <= lo < vaddr + len(data):
            return lo, data[lo - vaddr:hi - vaddr]
    raise AssertionError(f"{name} is in no code segment of {binary}")


@pytest.mark.parametrize("pie", [True, False])
def test_entries_by_address_and_by_offset_into_a_function(tmp_path, demo, example, pie):
    import capstone

    host = demo("O2", pie)
    address, _ = _function(host, "demo_target")
    proc, maps = load_dump(tmp_path, str(example("counter")),
                           "--attach", f"count_target=uprobe:demo:{address:#x}",
                           "--", str(host), "count", "700", "2")
    assert proc.returncode == 0, proc.stderr
    assert maps["hits"] == [{"key": 0, "value": 700}]
    start, code = _function(host, "demo_work")
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_64)
    second = [insn.address for insn in md.disasm(code, 0)][1]   # the 2nd instruction
    proc, maps = load_dump(tmp_path, str(example("counter")),
                           "--attach", f"count_target=uprobe:demo:demo_work+{second:#x}",
                           "--", str(host), "work", "40")
    assert proc.returncode == 0, proc.stderr
    assert maps["hits"] == [{"key": 0, "value": 40}]
    proc = bpftime("load", str(example("counter")), "--attach",
                   f"count_target=uprobe:demo:demo_work+{second + 1:#x}", "--", str(host), "work", "1")
    assert proc.returncode == 2 and "not at an instruction boundary" in proc.stderr


@pytest.mark.parametrize("opt", ["O2", "O0"])
def test_uretprobe_under_recursion_in_every_thread(tmp_path, demo, example, opt):
    """demo_fib recurses ~20 deep in 4 threads: every entry and every return is seen
    once, and every return value still reaches its caller (the result is right)."""
    proc, maps = load_dump(tmp_path, str(example("counter")),
                           "--attach", "count_target=uprobe:demo:demo_fib",
                           "--attach", "count_target=uretprobe:demo:demo_fib",
                           "--", str(demo(opt)), "fib", "20", "4")
    assert proc.returncode == 0, proc.stderr
    calls = int(re.search(r"^fib 20 = 6765 calls (\d+)$", proc.stdout, re.M).group(1))
    assert calls == 4 * 21891
    assert maps["hits"] == [{"key": 0, "value": 2 * calls}]


@pytest.mark.parametrize("opt, cet", [("O2", False), ("O2", True), ("O0", False)])
def test_displaced_rip_relative_lea_still_points_at_its_data(tmp_path, demo, example, opt, cet):
    """demo_greeting is `lea rax, [rip + greeting]; ret` (PIE): run from the trampoline,
    the relocated lea must still yield the address of `greeting`."""
    proc, maps = load_dump(tmp_path, str(example("counter")),
                           "--attach", "count_target=uprobe:demo:demo_greeting",
                           "--", str(demo(opt, True, cet)), "greet", "2000")
    assert proc.returncode == 0, proc.stderr
    assert "hello from the demo host: 2000 of 2000" in proc.stdout
    assert maps["hits"] == [{"key": 0, "value": 2001}]
