"""What `bpftime load TARGET` attaches where: section names, --prog, --attach, and
EIM deployments; bad input is a one-line error naming what is wrong."""
from __future__ import annotations

import pytest
from test_load_support import example_object

from bpftime.elf.loader import load_object
from bpftime.errors import LoadError
from bpftime.inject.targets import entry_spec, from_object, is_object, parse_attach_option
from bpftime.policy import ContextKind, Policy

POLICY = Policy("test", ContextKind.PT_REGS, frozenset())


def test_attach_option_parses_like_a_section():
    prog, point = parse_attach_option("count=uretprobe:libc.so.6:malloc")
    assert (prog, point.kind, point.binary, point.function) == ("count", "uretprobe", "libc.so.6", "malloc")
    _, point = parse_attach_option("p=uprobe:/bin/demo:f+0x4")
    assert entry_spec(point) == "/bin/demo:f+0x4"


@pytest.mark.parametrize("text", ["count", "count=kprobe:x:y", "=uprobe:a:b", "count=uprobe:f"])
def test_bad_attach_option(text):
    with pytest.raises(LoadError, match="--attach"):
        parse_attach_option(text)


def test_sections_give_entries():
    obj = load_object(example_object("latency"))
    atts = from_object(obj, POLICY, (), ())
    assert [(a.name, a.kind, a.entry) for a in atts] == [
        ("work_enter", "uprobe", "demo:demo_work"), ("work_exit", "uretprobe", "demo:demo_work")]


def test_prog_selects_and_attach_replaces_the_section():
    obj = load_object(example_object("latency"))
    assert [a.name for a in from_object(obj, POLICY, ("work_exit",), ())] == ["work_exit"]
    atts = from_object(obj, POLICY, (), ("work_enter=uprobe:libc.so.6:free",
                                         "work_enter=uretprobe:demo:demo_add"))
    assert [(a.name, a.kind, a.entry) for a in atts] == [
        ("work_enter", "uprobe", "libc.so.6:free"), ("work_enter", "uretprobe", "demo:demo_add")]


def test_programs_without_an_entry_load_only_when_named():
    obj = load_object(example_object("counter"))
    assert [a.name for a in from_object(obj, POLICY, (), ())] == ["count_target"]
    with pytest.raises(LoadError, match="program nothing .* names no function"):
        from_object(obj, POLICY, ("nothing",), ())
    (att,) = from_object(obj, POLICY, (), ("nothing=uretprobe:demo:demo_add",))
    assert (att.name, att.kind, att.entry) == ("nothing", "uretprobe", "demo:demo_add")


def test_unknown_program_names_the_known_ones():
    obj = load_object(example_object("counter"))
    with pytest.raises(LoadError, match="no program named 'nope'.*count_target, nothing"):
        from_object(obj, POLICY, ("nope",), ())


def test_target_kind(tmp_path):
    assert is_object(example_object("counter"))
    spec = tmp_path / "x.yaml"
    spec.write_text("eim: 1\n")
    assert not is_object(spec)
    with pytest.raises(LoadError, match="no such file"):
        is_object(tmp_path / "missing.o")


@pytest.mark.parametrize("name", ["counter.bpf.c", "counter.bpf.o", "spec"])
def test_target_neither_elf_nor_yaml_is_refused_by_content(tmp_path, name):
    source = tmp_path / name
    source.write_text("#include <vmlinux.h>\n")
    with pytest.raises(LoadError, match=rf"^{source}: expected a BPF object \(clang -target bpf\) "
                                        r"or a deployment \.yaml$"):
        is_object(source)


def test_deployment_extensions_at_their_class_entries():
    from test_load_support import REPO, host

    from bpftime.eim import load_deployment
    from bpftime.inject.targets import from_deployment

    example_object("override")
    deployment = load_deployment(REPO / "examples" / "override" / "override.deploy.yaml", host=host())
    (att,) = from_deployment(deployment, load_object, ())
    assert (att.name, att.kind, att.program.name) == ("force-check", "uprobe", "force_check")
    assert att.entry.endswith(":demo_check") and att.policy.allow_return
    assert [a.name for a in from_deployment(deployment, load_object, ("force_check",))] == ["force-check"]
    with pytest.raises(LoadError, match="no extension 'nope' \\(extensions: force-check\\)"):
        from_deployment(deployment, load_object, ("nope",))


def test_maps_of_two_objects_with_one_name_get_their_objects_names(tmp_path):
    from test_load_support import compile_bpf

    from bpftime.inject.session_build import _map_names

    source = tmp_path / "other.bpf.c"
    source.write_text('#include <linux/bpf.h>\n#include <bpf/bpf_helpers.h>\n'
                      'struct { __uint(type, BPF_MAP_TYPE_ARRAY); __uint(max_entries, 1);\n'
                      '  __type(key, __u32); __type(value, __u64); } hits SEC(".maps");\n'
                      'SEC("uprobe") int p(void *ctx) { return 0; }\n'
                      'char LICENSE[] SEC("license") = "GPL";\n')
    counter, other = load_object(example_object("counter")), load_object(compile_bpf(source))
    names = _map_names([counter, other])
    assert names[(0, counter.map_index("hits"))] == "counter.hits"
    assert names[(1, other.map_index("hits"))] == "other.hits"
    assert names[(0, counter.map_index("counter.rodata"))] == "counter.rodata"
