"""The eBPF conformance suite (../shared/conformance) through the run pipeline:
every test file gives its `-- result`, every negative file fails."""
from __future__ import annotations

from pathlib import Path

import pytest

from bpftime.conformance_file import parse_conformance
from bpftime.errors import AsmError, BpftimeError, LoadError
from bpftime.runner import execute, load_runnable
from conftest import CONFORMANCE

TESTS = sorted((CONFORMANCE / "tests").glob("*.data"))
NEGATIVE = sorted((CONFORMANCE / "negative").glob("*.data"))


def test_the_suite_is_complete() -> None:
    assert len(TESTS) == 313
    assert len(NEGATIVE) == 60


@pytest.mark.parametrize("path", TESTS, ids=lambda p: p.name)
def test_conformance(path: Path) -> None:
    runnable = load_runnable(path)
    assert runnable.expected is not None
    result = execute(runnable)
    assert result.result == runnable.expected, f"r0 = {result.result:#x}"
    assert result.instructions and result.instructions > 0


@pytest.mark.parametrize("path", NEGATIVE, ids=lambda p: p.name)
def test_negative_fails(path: Path) -> None:
    try:
        runnable = load_runnable(path)
        result = execute(runnable)
    except BpftimeError as err:
        assert str(err) and "\n" not in str(err)
        return
    assert runnable.expected is not None, f"ran to {result.result:#x} though the file says it is invalid"
    assert result.result != runnable.expected


def test_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="empty file"):
        parse_conformance("", "e.data")
    with pytest.raises(LoadError, match=r"e.data: no program: a '-- asm' or '-- raw' section"):
        parse_conformance("# c\n-- result\n0x0\n", "e.data")
    with pytest.raises(LoadError, match=r"e.data:2: unknown section '-- bogus'"):
        parse_conformance("-- asm\n-- bogus\n", "e.data")
    with pytest.raises(LoadError, match="must be hex bytes"):
        parse_conformance("-- asm\nexit\n-- mem\nzz\n", "e.data")
    with pytest.raises(LoadError, match="disagree"):
        parse_conformance("-- asm\nexit\n-- raw\n0x0000000000000195\n", "e.data")
    with pytest.raises(AsmError, match=r"e.data:3: unknown mnemonic"):
        parse_conformance("# header\n-- asm\nfoo %r0\n", "e.data")


def test_sections_are_read() -> None:
    conf = parse_conformance("-- asm\nldxb %r0, [%r1+1]\nexit\n-- mem\n01 02 # c\n"
                             "-- result\n0x2\n-- no register offset\nanything\n", "x.data")
    assert conf.mem == b"\x01\x02" and conf.result == 2 and len(conf.insns) == 2
    raw = parse_conformance("-- raw\nb7 00 00 00 07 00 00 00\n0x0000000000000095\n", "r.data")
    assert [i.opcode for i in raw.insns] == [0xB7, 0x95] and raw.insns[0].imm == 7
