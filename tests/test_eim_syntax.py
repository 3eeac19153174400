"""Prototype and constraint parsing, on their own (no host needed)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpftime.eim.constraints import ConstraintError, parse_constraint
from bpftime.eim.prototype import (INT_TYPES, PrototypeError, format_prototype, parse_prototype)
from bpftime.policy import Constraint, ValueKind, ValueType

COPY = parse_prototype("(ptr dst, ptr src, u64 n) -> ptr")


def test_prototype_types():
    p = parse_prototype("(u8 a, i16 b, ptr<ngx_http_request_t> r, str s, ptr q) -> void")
    assert [n for n, _ in p.params] == ["a", "b", "r", "s", "q"]
    assert p.params[0][1] == ValueType(ValueKind.INT, 1, False)
    assert p.params[1][1] == ValueType(ValueKind.INT, 2, True)
    assert p.params[2][1] == ValueType(ValueKind.PTR, 0, type_name="ngx_http_request_t")
    assert p.params[3][1].kind is ValueKind.STR
    assert p.params[4][1] == ValueType(ValueKind.PTR, 0)
    assert p.ret.kind is ValueKind.VOID
    assert parse_prototype("() -> u64").params == ()


@pytest.mark.parametrize("text, error", [
    ("ptr a -> u64", "expected '(' at 'ptr' (character 1)"),
    ("(u128 a) -> u64", "expected a type (u8..u64, i8..i64, ptr, ptr<T>, str) at 'u128'"),
    ("(u64) -> u64", "expected a parameter name at ')'"),
    ("(u64 a, u64 a) -> u64", "parameter 'a' appears twice"),
    ("(u64 ret) -> u64", "expected a parameter name that is not a keyword at 'ret'"),
    ("(void v) -> u64", "expected a type"),
    ("(u64 a) -> ", "expected a type (u8..u64, i8..i64, ptr, ptr<T>, str, void) at the end"),
    ("(u64 a) -> u64 extra", "expected the end of the prototype at 'extra'"),
    ("(ptr<T a) -> u64", "expected '>' at 'a'"),
    ("(u64 a,) -> u64", "expected a type"),
])
def test_prototype_errors(text, error):
    with pytest.raises(PrototypeError) as info:
        parse_prototype(text)
    assert str(info.value).startswith(error)


_TYPE = st.sampled_from([*INT_TYPES, "ptr", "str", "ptr<foo_t>", "ptr<request>"])
_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: n not in {"ret", "null", "io", "void", "ptr", "str", *INT_TYPES})


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_TYPE, _NAME), max_size=6, unique_by=lambda p: p[1]),
       st.sampled_from([*INT_TYPES, "ptr", "str", "void"]))
def test_prototype_round_trips(params, ret):
    text = "(" + ", ".join(f"{t} {n}" for t, n in params) + f") -> {ret}"
    parsed = parse_prototype(text)
    assert format_prototype(parsed.params, parsed.ret) == text
    assert parse_prototype(format_prototype(parsed.params, parsed.ret)) == \
        parse_prototype(text)


@pytest.mark.parametrize("text, expected", [
    ("reads(src, n)", Constraint("reads", ("src", "n"), text="reads(src, n)")),
    ("writes(dst, 16)", Constraint("writes", ("dst", 16), text="writes(dst, 16)")),
    ("n <= 4096", Constraint("relation", ("n", 4096), op="<=", text="n <= 4096")),
    ("ret == dst", Constraint("relation", ("ret", "dst"), op="==", text="ret == dst")),
    ("0x10 > n", Constraint("relation", (16, "n"), op=">", text="0x10 > n")),
    ("n != -1", Constraint("relation", ("n", -1), op="!=", text="n != -1")),
    ("nonnull(dst)", Constraint("nonnull", ("dst",), text="nonnull(dst)")),
    ("frees(src)", Constraint("frees", ("src",), text="frees(src)")),
    ("io", Constraint("io", text="io")),
    ("ret: alloc(n) | null", Constraint("alloc", ("n",), nullable=True, text="ret: alloc(n) | null")),
    ("ret:  alloc(64)", Constraint("alloc", (64,), text="ret: alloc(64)")),
])
def test_constraints(text, expected):
    assert parse_constraint(text, COPY) == expected


@pytest.mark.parametrize("text, proto, error", [
    ("reads(n, n)", COPY, "reads(n, n): parameter 'n' is not a pointer"),
    ("reads(src)", COPY, "reads(src): reads takes 2 argument(s)"),
    ("writes(dst, m)", COPY, "writes(dst, m): 'm' is neither a parameter nor 'ret'"),
    ("ret > 0", parse_prototype("(u64 a) -> void"), "ret > 0: 'ret' of a function returning void"),
    ("ret: alloc(n)", parse_prototype("(u64 n) -> u64"), "ret: alloc(n): alloc needs a function returning ptr"),
    ("1 < 2", COPY, "1 < 2: a relation needs a parameter or 'ret'"),
    ("n =< 4", COPY, "'n =< 4' does not parse"),
    ("str(n)", COPY, "str(n): parameter 'n' is not a pointer"),
])
def test_constraint_errors(text, proto, error):
    with pytest.raises(ConstraintError) as info:
        parse_constraint(text, proto)
    assert str(info.value).startswith(error)


def test_unquoted_alloc_constraint_in_yaml(tmp_path, host_binary):
    """`- ret: alloc(n) | null` unquoted is a YAML mapping; it still means the constraint."""
    from bpftime.eim import load_development

    spec = tmp_path / "dev.eim.yaml"
    spec.write_text(f"""eim: 1
host: {host_binary("demo_host")}
functions:
  - name: copyBytes
    function: copy_bytes
    prototype: "(ptr dst, ptr src, u64 n) -> ptr"
    constraints:
      - ret: alloc(n) | null
      - nonnull(src)
""")
    fn = load_development(spec).functions["copyBytes"]
    assert fn.constraints[0] == Constraint("alloc", ("n",), nullable=True, text="ret: alloc(n) | null")
