"""What a deployment gives the verifier: one Policy per class, with inheritance merged."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from bpftime.eim import load_deployment
from bpftime.errors import LoadError
from bpftime.kernel_abi import helper_id
from bpftime.policy import Constraint, ContextKind, ValueKind

SPECS = Path(__file__).resolve().parents[1] / "specs"


@pytest.fixture(scope="module")
def demo(host_binary):
    return load_deployment(SPECS / "demo.observer.yaml", host=host_binary("demo_host"))


def test_observer_policy(demo):
    policy = demo.classes["observer"].policy
    assert policy.class_name == "observer"
    assert policy.context is ContextKind.PT_REGS
    assert policy.helpers == {helper_id(h) for h in ("map_lookup_elem", "map_update_elem",
                                                     "ringbuf_output", "ktime_get_ns",
                                                     "get_current_pid_tgid")}
    assert set(policy.variables) == {"demo_counter", "demo_banner"}
    assert policy.functions == {}
    (arg,) = policy.entry_args
    assert (arg.index, arg.name, arg.read, arg.write, arg.write_fields) == (0, "r", True, False, ())
    assert arg.type.kind is ValueKind.PTR and arg.type.type_name == "request" and arg.type.size == 48
    assert not policy.allow_return and not policy.allow_io
    assert (policy.max_instructions, policy.max_memory) == (10000, 64 * 1024)


def test_inherited_class_adds_to_its_parent(demo):
    parent = demo.classes["observer"].policy
    child = demo.classes["rewriter"].policy
    assert demo.classes["rewriter"].entry == demo.classes["observer"].entry   # entry inherited
    assert child.helpers == parent.helpers
    assert set(child.variables) == set(parent.variables)
    assert set(child.functions) == {"checksum"}
    assert child.allow_return and not parent.allow_return
    (arg,) = child.entry_args
    assert arg.read and not arg.write
    assert [(g.offset, g.size) for g in arg.write_fields] == [(4, 4), (40, 2)]
    assert child.max_instructions == 20000          # its own
    assert child.max_memory == 64 * 1024            # its parent's


def test_host_function_carries_prototype_and_constraints(demo):
    fn = demo.classes["rewriter"].policy.functions["checksum"]
    assert fn.capability == "checksum" and fn.symbol == "checksum"
    assert [(n, t.kind, t.size) for n, t in fn.params] == [("r", ValueKind.PTR, 48),
                                                          ("n", ValueKind.INT, 8)]
    assert fn.ret.kind is ValueKind.INT and not fn.ret.signed
    assert fn.constraints == (Constraint("reads", ("r", "n"), text="reads(r, n)"),
                              Constraint("relation", ("n", 24), op="<=", text="n <= 24"))


def test_extension_binds_object_program_class(demo):
    ext = {e.name: e for e in demo.extensions}["status-rewriter"]
    assert ext.object == SPECS / "bpf" / "build" / "demo_rewriter.bpf.o"
    assert (ext.program, ext.class_name) == ("rewrite_status", "rewriter")
    assert ext.policy is demo.classes["rewriter"].policy
    assert ext.entry.function == "process_request"


def test_return_entry_has_no_argument_grants(demo):
    watcher = demo.classes["resultWatcher"]
    assert watcher.entry.at == "return"
    assert not any(a.read or a.write for a in watcher.policy.entry_args)


def test_io_function_and_io_grant(host_binary):
    dep = load_deployment(SPECS / "redis.durability.yaml", host=host_binary("redis_like"))
    durability = dep.classes["durability"].policy
    assert durability.allow_io
    assert durability.functions["flushAppendOnlyFile"].does_io
    assert not durability.functions["ustime"].does_io
    assert not dep.classes["commandObserver"].policy.allow_io
    assert durability.max_memory == 1 << 20
    assert dep.classes["syncAfterWrite"].policy.max_memory == 4096


def write_pair(tmp_path: Path, host: Path, classes: str) -> Path:
    (tmp_path / "dev.eim.yaml").write_text((SPECS / "demo.eim.yaml").read_text()
                                           .replace("host: ../tests/hosts/build/demo_host-pie-O2",
                                                    f"host: {host}"))
    path = tmp_path / "deploy.yaml"
    path.write_text("eim: 1\nuses: dev.eim.yaml\nclasses:\n" + classes)
    return path


def test_limits_inherited_from_several_parents_take_the_smallest(tmp_path, host_binary):
    path = write_pair(tmp_path, host_binary("demo_host"), """\
  - name: a
    entry: requestBegin
    limits: {instructions: 500, memory: 1MiB}
  - name: b
    entry: requestBegin
    limits: {instructions: 900, memory: 2048}
  - name: c
    inherits: [a, b]
""")
    policy = load_deployment(path).classes["c"].policy
    assert (policy.max_instructions, policy.max_memory) == (500, 2048)


def test_parents_on_different_entries_need_an_entry(tmp_path, host_binary):
    path = write_pair(tmp_path, host_binary("demo_host"), """\
  - name: a
    entry: requestBegin
  - name: b
    entry: addEntry
  - name: c
    inherits: [a, b]
""")
    with pytest.raises(LoadError, match=r"deploy.yaml:8:5: class 'c': no entry given and its parents "
                                        r"are bound to different entries \(addEntry, requestBegin\)"):
        load_deployment(path)


def test_inherited_argument_grant_must_fit_the_childs_entry(tmp_path, host_binary):
    path = write_pair(tmp_path, host_binary("demo_host"), """\
  - name: a
    entry: requestBegin
    allow: [read(r)]
  - name: b
    entry: addEntry
    inherits: [a]
""")
    with pytest.raises(LoadError, match=r"deploy.yaml:6:13: class 'b': read\(r\) \(inherited from "
                                        r"class 'a'\): entry 'addEntry' has no parameter 'r'"):
        load_deployment(path)


@pytest.mark.parametrize("entry, grant, message", [
    ("requestEnd", "read(r)", "entry 'requestEnd' is a return; the arguments are gone there"),
    ("addEntry", "read(a)", "parameter 'a' must be ptr<T> so its size is known"),
], ids=["on-return-entry", "on-integer-argument"])
def test_argument_grant_is_refused(tmp_path, host_binary, entry, grant, message):
    path = write_pair(tmp_path, host_binary("demo_host"), f"""\
  - name: a
    entry: {entry}
    allow: [{grant}]
""")
    with pytest.raises(LoadError, match=re.escape(message)):
        load_deployment(path)


def test_whole_argument_write(tmp_path, host_binary):
    path = write_pair(tmp_path, host_binary("demo_host"), """\
  - name: a
    entry: requestBegin
    allow: [write(r), write(r.status), limit, copyBytes, io]
""")
    policy = load_deployment(path).classes["a"].policy
    (arg,) = policy.entry_args
    assert arg.read and arg.write and arg.write_fields == ()
    assert policy.variables["demo_limit"].writable
    assert policy.variables["demo_limit"].size == 4
    assert policy.allow_io and not policy.allow_return
    copy = policy.functions["copy_bytes"]
    assert [c.kind for c in copy.constraints] == ["writes", "reads", "relation", "relation"]
