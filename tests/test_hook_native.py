"""Hooks applied in this process: plans from the files on disk, patched by the native
library, with C functions of tests/native_hooks/targets.c as the extensions."""
from __future__ import annotations

import ctypes
import errno
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bpftime.hook.native import HookError, HookSet, library, module_bias
from bpftime.hook.plan import HookPlan, Strategy, plan_hook
from bpftime.hook.elfinfo import open_elf
from bpftime.hook.relocate import decode
from bpftime.hook.resolve import Entry, Resolver
from native_hooks.build import HERE, agent_host, targets_library

# every one computes a + b for a >= 0, b >= 1; the strategy the O2 build gets
ADDERS = ["add_leaf", "add_global", "add_o0", "bump", "add_jcc", "add_call", "add_loop", "add_tiny"]
binop = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_int)


@dataclass
class Targets:
    """The test library loaded in this process, with its hooks."""

    path: Path
    lib: ctypes.CDLL
    resolver: Resolver
    hooks: HookSet

    def addr(self, name: str) -> int:
        return ctypes.cast(getattr(self.lib, name), ctypes.c_void_p).value

    def var(self, name: str, ctype=ctypes.c_uint64):
        return ctype.in_dll(self.lib, name)

    def entry(self, name: str) -> Entry:
        return self.resolver.resolve(name)

    def hook(self, name: str, entry_progs=(), return_progs=()) -> tuple[int, HookPlan]:
        plan = plan_hook(self.entry(name))
        hook_id = self.hooks.install(plan, self.addr(name))
        for prog in entry_progs:
            self.hooks.add_program(hook_id, self.addr(prog))
        for prog in return_progs:
            self.hooks.add_program(hook_id, self.addr(prog), at_return=True)
        return hook_id, plan

    def file_text(self, name: str) -> bytes:
        """The function's bytes on disk."""
        return self.entry(name).body

    def live_text(self, name: str) -> bytes:
        """The function's bytes in memory now."""
        return ctypes.string_at(self.addr(name), self.entry(name).func_size)

    def reset(self) -> None:
        for counter in ("hits", "ret_hits", "ret_sum", "last_ip", "last_func_ip", "last_session", "last_di", "last_si",
                        "last_sp_ok", "last_ret", "misaligned"):
            self.var(counter).value = 0
        self.var("bump_calls", ctypes.c_int).value = 0
        self.var("global_value", ctypes.c_int).value = 0


def _load(opt: str) -> Targets:
    path = targets_library(HERE / "build", opt)
    lib = ctypes.CDLL(str(path))
    lib.call_binop_threads.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long]
    lib.call_binop_threads.restype = ctypes.c_long
    lib.call_rec_threads.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_long, ctypes.c_long]
    lib.call_rec_threads.restype = ctypes.c_long
    lib.hammer_start.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.hammer_start.restype = ctypes.c_void_p
    lib.hammer_stop.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_long)]
    lib.hammer_stop.restype = ctypes.c_long
    lib.ns_per_call.argtypes = [ctypes.c_void_p, ctypes.c_long]
    lib.ns_per_call.restype = ctypes.c_double
    lib.sum_to.argtypes = [ctypes.c_long]
    lib.sum_to.restype = ctypes.c_long
    lib.table_addr.restype = ctypes.c_void_p
    for slot, helper in (("override_fn", "override_return"), ("func_ip_fn", "get_func_ip")):
        address = ctypes.cast(getattr(library(), "bpftime_helper_" + helper), ctypes.c_void_p).value
        ctypes.c_void_p.in_dll(lib, slot).value = address
    invocation = ctypes.cast(library().bpftime_invocation, ctypes.c_void_p).value
    ctypes.c_void_p.in_dll(lib, "invocation_fn").value = invocation
    return Targets(path, lib, Resolver(path), HookSet())


@pytest.fixture(scope="module", params=["-O2", "-O0"])
def loaded(request):
    t = _load(request.param)
    yield t
    t.hooks.close()


@pytest.fixture
def t(loaded):
    """The library with counters reset; every hook a test leaves is removed after it."""
    loaded.reset()
    yield loaded
    loaded.hooks.close()
    loaded.hooks = HookSet()


def test_module_bias_matches_the_loaded_library(t):
    assert module_bias(str(t.path)) == t.addr("add_leaf") - t.entry("add_leaf").vaddr
    assert module_bias(t.path.name) == module_bias(str(t.path))
    assert module_bias("/no/such/library.so") is None


@pytest.mark.parametrize("name", ADDERS)
def test_exact_hits_from_threads_and_bytes_restored(t, name):
    threads, calls = 4, (500 if name in ("add_loop", "add_tiny") else 20000)  # int3 costs a signal
    hook_id, plan = t.hook(name, entry_progs=["count_prog"])
    assert t.live_text(name) != t.file_text(name)
    assert t.lib.call_binop_threads(t.addr(name), threads, calls) == 0  # every result right
    assert t.var("hits").value == threads * calls
    t.hooks.remove(hook_id)
    assert t.live_text(name) == t.file_text(name)
    assert t.lib.call_binop_threads(t.addr(name), threads, 100) == 0
    assert t.var("hits").value == threads * calls


def test_context_is_pt_regs_at_the_entry(t):
    session = ctypes.create_string_buffer(64)  # stands for a session mapping
    t.hooks.set_session(ctypes.addressof(session))
    t.hook("add_global", entry_progs=["record_prog"])
    assert t.lib.call_add_global(11, 22) == 33
    caller = t.entry("call_add_global")
    start = t.addr("call_add_global")
    assert start < t.var("last_ret").value < start + caller.func_size  # regs->sp: the return slot
    assert t.var("last_ip").value == t.addr("add_global")
    assert t.var("last_func_ip").value == t.addr("add_global")  # bpf_get_func_ip
    assert t.var("last_session").value == ctypes.addressof(session)
    record = ctypes.cast(library().bpftime_invocation, ctypes.CFUNCTYPE(ctypes.c_void_p))()
    assert ctypes.c_void_p.from_address(record).value is None  # restored after the extension
    assert (t.var("last_di").value, t.var("last_si").value) == (11, 22)
    assert t.var("last_sp_ok").value == 1
    assert t.var("misaligned").value == 0


def test_displaced_rip_relative_instructions_read_the_right_data(t):
    bare = t.lib.table_addr()
    t.hook("table_addr", entry_progs=["count_prog"])
    t.hook("add_global", entry_progs=["count_prog"])
    t.var("global_value", ctypes.c_int).value = 7
    assert t.lib.table_addr() == bare
    assert t.lib.add_global(1, 2) == 10
    assert t.var("hits").value == 2


def test_vector_arguments_survive_the_hook(t):
    t.lib.scale_add.argtypes = [ctypes.c_double, ctypes.c_double]
    t.lib.scale_add.restype = ctypes.c_double
    t.hook("scale_add", entry_progs=["record_prog"], return_progs=["ret_prog"])
    assert t.lib.scale_add(1.25, 0.5) == 3.0
    assert t.var("hits").value == t.var("ret_hits").value == 1


def test_dispatcher_never_touches_vector_registers():
    """Trampolines save general registers only: no code the dispatcher reaches in the
    native library may use xmm/ymm/zmm (dispatch.c is built general-regs-only)."""
    elf = open_elf(str(Path(library()._name)))
    todo = [elf.functions[name].vaddr for name in ("bpftime_dispatch_entry", "bpftime_dispatch_return")]
    seen: set[int] = set()
    while todo:
        start = todo.pop()
        sym = elf.containing(start)
        if sym is None or start in seen:
            continue  # PLT stubs: libc, reached only on a thread's first uretprobe
        seen.add(start)
        for ins in decode(elf.read(sym.vaddr, sym.size), sym.vaddr):
            assert not any(v in ins.op_str for v in ("xmm", "ymm", "zmm")), (sym.name, ins.describe())
            if ins.kind in ("call", "jmp") and ins.rel_target is not None:
                todo.append(ins.rel_target)
    assert len(seen) >= 2


def test_override_return_skips_the_body(t):
    t.hook("bump", entry_progs=["count_prog", "override_prog"])
    assert t.lib.bump(1, 2) == 42
    assert t.var("bump_calls", ctypes.c_int).value == 0  # the body never ran
    assert t.var("hits").value == 2  # both programs, in order
    assert t.lib.call_binop_threads(t.addr("add_leaf"), 2, 10) == 0  # others unaffected


def test_the_hosts_errno_survives_extensions(t):
    """Helpers make system calls that set errno (a probe read of a bad address): the
    host finds errno at an entry and after a return as it left it."""
    t.hook("add_leaf", entry_progs=["errno_prog"], return_progs=["errno_prog"])
    t.lib.errno_across.argtypes = [ctypes.c_void_p]
    assert t.lib.errno_across(t.addr("add_leaf")) == errno.ENOTTY
    assert t.var("hits").value == 2


def test_uretprobe_sees_every_return_value_from_threads(t):
    threads, calls = 4, 5000
    t.hook("add_global", return_progs=["ret_prog"])
    assert t.lib.call_binop_threads(t.addr("add_global"), threads, calls) == 0
    assert t.var("ret_hits").value == threads * calls
    expected = threads * sum((i & 1023) + 3 for i in range(calls))
    assert t.var("ret_sum").value == expected
    assert t.var("misaligned").value == 0  # the return trampoline keeps the ABI's alignment


def test_uretprobe_under_recursion_and_threads(t):
    hook_id, _ = t.hook("sum_to", entry_progs=["count_prog"], return_progs=["ret_prog"])
    assert t.lib.sum_to(10) == 55
    assert (t.var("hits").value, t.var("ret_hits").value) == (11, 11)
    assert t.var("ret_sum").value == sum(k * (k + 1) // 2 for k in range(11))
    assert t.lib.call_rec_threads(t.addr("sum_to"), 4, 500, 20) == 0
    assert t.var("ret_hits").value == 11 + 4 * 500 * 21
    assert t.hooks.descriptor(hook_id).missed == 0


def test_full_shadow_stack_misses_returns_but_stays_correct(t):
    hook_id, _ = t.hook("sum_to", return_progs=["ret_prog"])
    depth = 300  # 301 nested calls, 255 shadow frames
    assert t.lib.sum_to(depth) == depth * (depth + 1) // 2
    assert t.var("ret_hits").value == 255
    assert t.hooks.descriptor(hook_id).missed == depth + 1 - 255
    assert t.lib.sum_to(5) == 15  # and the next call is hooked again
    assert t.var("ret_hits").value == 255 + 6


def test_libc_malloc_in_this_very_process(t):
    """malloc is called by Python and every thread here: hook it, count, unhook."""
    resolver = Resolver(pid=os.getpid())
    malloc = resolver.resolve("libc.so.6:malloc")
    plan = plan_hook(malloc)
    hook_id = t.hooks.install(plan, malloc.address)
    t.hooks.add_program(hook_id, t.addr("count_prog"))
    t.hooks.add_program(hook_id, t.addr("ret_prog"), at_return=True)
    assert t.lib.malloc_many(1000) == 1000
    assert t.var("hits").value >= 1000 and t.var("ret_hits").value >= 1000
    t.hooks.remove(hook_id)
    assert ctypes.string_at(malloc.address, len(plan.original)) == plan.original
    with open(malloc.module, "rb") as f:
        f.seek(malloc.file_offset)
        assert f.read(malloc.func_size) == ctypes.string_at(malloc.address, malloc.func_size)


def test_two_sessions_in_one_process(t):
    """Each session's table is its own: closing one leaves the other's hooks alone."""
    other = HookSet()
    try:
        t.hook("add_loop", entry_progs=["count_prog"])  # int3: the shared trap table
        plan = plan_hook(t.entry("add_jcc"))
        theirs = other.install(plan, t.addr("add_jcc"))
        other.add_program(theirs, t.addr("count_prog"))
        assert t.lib.add_loop(1, 2) == 3 and t.lib.add_jcc(1, 2) == 3
        assert t.var("hits").value == 2
        t.hooks.close()
        assert t.live_text("add_loop") == t.file_text("add_loop")
        assert t.lib.add_loop(1, 2) == 3 and t.lib.add_jcc(1, 2) == 3
        assert t.var("hits").value == 3  # only the other session's hook still runs
    finally:
        other.close()
    assert t.live_text("add_jcc") == t.file_text("add_jcc")


def test_uretprobe_on_mmap_which_the_shadow_stack_itself_uses(t):
    """A new thread's first uretprobe maps its shadow stack with mmap: hooked, that
    nested call runs no extensions (counted as missed) instead of recursing."""
    mmap = Resolver(pid=os.getpid()).resolve("libc.so.6:mmap")
    hook_id = t.hooks.install(plan_hook(mmap), mmap.address)
    t.hooks.add_program(hook_id, t.addr("ret_prog"), at_return=True)
    assert t.lib.mmap_in_new_thread() == 1
    assert t.var("ret_hits").value >= 1
    assert t.hooks.descriptor(hook_id).missed >= 1


def test_a_host_trap_handler_installed_later_is_put_behind_ours(t):
    """The host replaces the SIGTRAP handler after hooks exist; the next install puts
    the patcher's first again: int3 hooks keep working, the host's traps reach it."""
    t.hook("add_leaf", entry_progs=["count_prog"])
    assert t.lib.install_host_trap_handler() == 0
    t.hook("add_loop", entry_progs=["count_prog"])  # int3 strategy
    assert t.lib.call_binop_threads(t.addr("add_loop"), 2, 50) == 0
    assert t.var("hits").value == 100
    before = t.lib.host_breakpoint()
    assert t.lib.host_breakpoint() == before + 1


def test_second_install_at_a_patched_entry_is_refused(t):
    t.hook("add_global", entry_progs=["count_prog"])
    with pytest.raises(HookError, match=r"live bytes e9.* differ from the plan's f30f1efa"):
        t.hook("add_global")


def test_an_address_outside_executable_memory_is_refused(t):
    plan = plan_hook(t.entry("add_leaf"))
    data = ctypes.create_string_buffer(plan.original, 64)  # right bytes, but not code
    with pytest.raises(HookError, match=r"not in readable executable memory"):
        t.hooks.install(plan, ctypes.addressof(data))
    with pytest.raises(HookError, match=r"not in readable executable memory"):
        t.hooks.install(plan, 8)


def test_removing_twice_is_an_error_and_reinstalling_reuses_the_trampoline(t):
    hook_id, _ = t.hook("add_leaf")
    first = ctypes.addressof(t.hooks.descriptor(hook_id))
    t.hooks.remove(hook_id)
    with pytest.raises(HookError, match=f"no hook {hook_id}"):
        t.hooks.remove(hook_id)
    again, _ = t.hook("add_leaf", entry_progs=["count_prog"])
    assert ctypes.addressof(t.hooks.descriptor(again)) == first  # kept mapped, reused
    assert t.lib.add_leaf(2, 3) == 5 and t.var("hits").value == 1


def test_unhooked_code_keeps_its_bytes(t):
    """Concealed entries: outside the patched bytes, the text equals the file."""
    patched = {name: t.hook(name, entry_progs=["count_prog"])[1] for name in ADDERS}
    elf = t.resolver.host
    text = max(elf.sections, key=lambda s: s.size)
    bias = t.addr("add_leaf") - t.entry("add_leaf").vaddr
    live = bytearray(ctypes.string_at(bias + text.vaddr, text.size))
    for name, plan in patched.items():
        at = t.entry(name).vaddr - text.vaddr
        assert live[at:at + len(plan.patch)] != plan.original
        live[at:at + len(plan.patch)] = plan.original
    assert bytes(live) == text.data
    assert t.live_text("untouched") == t.file_text("untouched")


@pytest.mark.parametrize("name", ["add_global", "add_leaf", "add_jcc"])
def test_live_patching_while_threads_call_the_entry(t, name):
    """50 install/remove cycles while 4 threads call the entry in a tight loop; calls in
    flight at a removal still return through the return trampoline."""
    hammer = t.lib.hammer_start(t.addr(name), 4)
    assert hammer
    try:
        for _ in range(50):
            before = t.var("hits").value
            hook_id, _ = t.hook(name, entry_progs=["count_prog"], return_progs=["ret_prog"])
            deadline = time.monotonic() + 2
            while t.var("hits").value == before and time.monotonic() < deadline:
                time.sleep(0.001)  # the callers may wait for a CPU on a loaded machine
            t.hooks.remove(hook_id)
            assert t.var("hits").value > before
    finally:
        calls = ctypes.c_long()
        deviation = t.lib.hammer_stop(hammer, ctypes.byref(calls))
    assert deviation == 0 and calls.value > 0
    assert t.live_text(name) == t.file_text(name)


def test_ns_per_hit(t, capsys):
    """Not a timed test: prints the cost of a hook with an empty extension."""
    n = 200_000
    bare = t.lib.ns_per_call(t.addr("bench_target"), n)
    hook_id, plan = t.hook("bench_target", entry_progs=["empty_prog"])
    assert plan.strategy == Strategy.JMP
    uprobe = t.lib.ns_per_call(t.addr("bench_target"), n)
    t.hooks.remove(hook_id)
    t.hook("bench_target", return_progs=["empty_prog"])
    uretprobe = t.lib.ns_per_call(t.addr("bench_target"), n)
    with capsys.disabled():
        print(f"\n[{t.path.name}] bare {bare:.2f} ns/call; uprobe +{uprobe - bare:.2f} ns/hit; "
              f"uretprobe +{uretprobe - bare:.2f} ns/hit (shared, noisy machine)")
    assert uprobe > bare


@pytest.mark.parametrize("pie", [True, False], ids=["pie", "no-pie"])
def test_agent_style_install_in_a_host_executable(tmp_path, pie):
    """A plan made from the file, applied inside another process to its main program
    (PIE or not) at bias + vaddr, exactly as the agent applies the session's plans; the
    host's own SIGTRAP handler still gets the host's own int3."""
    host = agent_host(HERE / "build", pie)
    entry = Resolver(host).resolve("work")
    plan = plan_hook(entry)
    plan_file = tmp_path / "work.plan"
    plan_file.write_bytes(plan.to_bytes())
    proc = subprocess.run([str(host), library()._name, str(plan_file), entry.module, "4", "50000"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["hits=200000", "wrong=0", "restored=1", "foreign_traps=1"]
