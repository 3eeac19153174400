"""check_externs: an extension's extern declarations (BTF) against its class's grants."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import build_bpf
from bpftime.eim import check_externs, load_deployment
from bpftime.errors import LoadError

SPECS = Path(__file__).resolve().parents[1] / "specs"

SOURCE = """\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct request {{ int id; int status; char path[24]; unsigned long long bytes; int peer; }};

extern {checksum} __ksym;
extern {counter} __ksym;

SEC("uprobe")
int BPF_KPROBE(count_requests, struct request *r)
{{
	return {call} + {use};
}}

char LICENSE[] SEC("license") = "GPL";
"""

GOOD_CHECKSUM = "u64 checksum(struct request *r, u64 n)"
GOOD_COUNTER = "const long long demo_counter"


def build(tmp_path: Path, checksum: str = GOOD_CHECKSUM, counter: str = GOOD_COUNTER,
          call: str = "checksum(r, 4)", use: str = "demo_counter"):
    from bpftime.elf import load_object

    source = tmp_path / "ext.bpf.c"
    source.write_text(SOURCE.format(checksum=checksum, counter=counter, call=call, use=use))
    return load_object(build_bpf(source, tmp_path))


@pytest.fixture(scope="module")
def policy(host_binary):
    return load_deployment(SPECS / "demo.observer.yaml", host=host_binary("demo_host")) \
        .classes["rewriter"].policy


def test_matching_externs_pass(tmp_path, policy):
    check_externs(policy, build(tmp_path))


def test_void_pointer_stands_for_a_typed_pointer(tmp_path, policy):
    check_externs(policy, build(tmp_path, checksum="u64 checksum(void *r, u64 n)"))


def test_wrong_parameter_type_names_both_prototypes(tmp_path, policy):
    obj = build(tmp_path, checksum="u64 checksum(struct request *r, u32 n)")
    with pytest.raises(LoadError) as info:
        check_externs(policy, obj)
    assert str(info.value) == (
        f"{obj.path}: extern 'checksum' is declared \"u64 checksum(struct request *, u32)\" "
        "but capability 'checksum' of class 'rewriter' has prototype "
        "\"(ptr<request> r, u64 n) -> u64\" (parameter 2 is 'u32' in the object but u64 n in the spec)")


def test_wrong_parameter_count(tmp_path, policy):
    obj = build(tmp_path, checksum="u64 checksum(struct request *r)", call="checksum(r)")
    with pytest.raises(LoadError, match=r"\(1 parameters in the object, 2 in the spec\)"):
        check_externs(policy, obj)


def test_wrong_return_type(tmp_path, policy):
    obj = build(tmp_path, checksum="int checksum(struct request *r, u64 n)")
    with pytest.raises(LoadError, match=r"it returns 'int' in the object but u64 in the spec"):
        check_externs(policy, obj)


def test_variable_larger_than_the_host_s(tmp_path, policy):
    obj = build(tmp_path, counter="const struct { long long a, b; } demo_counter",
                use="demo_counter.b")
    with pytest.raises(LoadError, match=r"extern 'demo_counter' is declared .* \(16 bytes\) but state "
                                        r"capability 'readCounter' of class 'rewriter' is 8 bytes"):
        check_externs(policy, obj)


def test_function_granted_but_declared_as_variable(tmp_path, policy):
    from bpftime.elf import load_object

    source = tmp_path / "var.bpf.c"
    source.write_text("""\
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
extern const long long checksum __ksym;
SEC("uprobe") int probe(void *ctx) { return checksum; }
char LICENSE[] SEC("license") = "GPL";
""")
    obj = load_object(build_bpf(source, tmp_path))
    with pytest.raises(LoadError, match="extern 'checksum' is declared as a variable but class "
                                        "'rewriter' grants it as function 'checksum'"):
        check_externs(policy, obj)


def test_pointee_modifier_loop_is_an_error_not_a_hang():
    """A damaged BTF whose pointee is a typedef loop: LoadError, as Btf.resolve gives it."""
    from bpftime.btf import Kind, parse_btf
    from bpftime.eim.externs import btf_type_matches
    from bpftime.policy import ValueKind, ValueType
    from test_btf import Builder

    b = Builder()
    b.add(Kind.TYPEDEF, "a", 2)
    b.add(Kind.TYPEDEF, "b", 1)
    ptr = b.add(Kind.PTR, "", 1)
    with pytest.raises(LoadError, match="loops"):
        btf_type_matches(parse_btf(b.bytes()), ptr, ValueType(ValueKind.PTR, type_name="request"))
