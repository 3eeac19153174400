"""`bpftime run`: output formats, input options, one-line errors, fast start-up."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cli.main import main
from conftest import CONFORMANCE, REPO

HELLO = REPO / "examples" / "hello" / "hello.asm"


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["run", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_hello_prints_r0_in_hex(capsys) -> None:
    assert run_cli(capsys, HELLO) == (0, "0x68656c6c6f\n", "")


def test_mem_is_the_input(capsys, tmp_path: Path) -> None:
    assert run_cli(capsys, HELLO, "--mem", "01 02 03")[1] == "0x68656c6c75\n"
    blob = tmp_path / "in.bin"
    blob.write_bytes(b"\xff\x01")
    assert run_cli(capsys, HELLO, "--mem-file", blob)[1] == f"{0x68656c6c6f + 256:#x}\n"


@pytest.mark.parametrize("engine", [(), ("--engine", "jit"), ("--engine", "interp")])
def test_json_reports_result_and_instructions(capsys, engine: tuple[str, ...]) -> None:
    code, out, _ = run_cli(capsys, HELLO, "--mem", "0102", "--json", *engine)
    assert code == 0
    assert json.loads(out) == {"result": 0x68656c6c6f + 3, "instructions": 2 + 2 * 7 + 2}


@pytest.mark.parametrize("engine", ["jit", "interp"])
def test_repeat_reports_time_per_run(capsys, engine: str) -> None:
    out = json.loads(run_cli(capsys, HELLO, "--json", "--repeat", "3", "--engine", engine)[1])
    assert out["result"] == 0x68656c6c6f and out["ns_per_run"] > 0


def test_conformance_file_uses_its_mem_and_r0_is_unsigned(capsys) -> None:
    code, out, _ = run_cli(capsys, CONFORMANCE / "tests" / "ldxdw.data")
    assert code == 0 and out == "0x8877665544332211\n"
    code, out, _ = run_cli(capsys, CONFORMANCE / "tests" / "mov64-sign-extend.data")
    assert out == "0xfffffffffffffff6\n"  # mov %r0, -10


@pytest.mark.parametrize("args,code,words", [
    ([CONFORMANCE / "negative" / "invalid_register.data"], 1, "invalid register '%r50'"),
    ([CONFORMANCE / "negative" / "unused-exit-imm.data"], 1, "instruction 0: reserved field imm"),
    ([CONFORMANCE / "negative" / "invalid_unknown_directive.data"], 2, "unknown section"),
    ([HELLO, "--mem", "xyz"], 2, "--mem: not hex bytes"),
    ([HELLO, "--prog", "x"], 2, "--prog applies only to ELF objects"),
    (["missing.asm"], 2, "missing.asm: cannot read"),
])
def test_refusals_are_one_line(capsys, args, code: int, words: str) -> None:
    got, out, err = run_cli(capsys, *args)
    assert got == code and out == ""
    assert err.startswith("bpftime: error: ") and words in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_engine_is_a_choice_of_the_registered_engines(capsys) -> None:
    from bpftime.runner import ENGINES

    assert main(["run", str(HELLO), "--engine", "warp"]) == 2
    assert "'warp' is not one of 'interp', 'jit'" in capsys.readouterr().err
    assert main(["run", "--help"]) == 0
    assert f"--engine [{'|'.join(sorted(ENGINES))}]" in capsys.readouterr().out


def test_unsafe_program_is_refused_before_it_runs(capsys, tmp_path: Path) -> None:
    prog = tmp_path / "bad.asm"
    prog.write_text("mov %r0, 0\nldxdw %r0, [%r0+0]\nexit\n")
    code, out, err = run_cli(capsys, prog)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"bpftime: error: {prog}: instruction 1 `ldxdw %r0, [%r0]`: ")
    assert "invalid mem access" in err


def test_mem_and_mem_file_exclude_each_other(capsys, tmp_path: Path) -> None:
    blob = tmp_path / "in.bin"
    blob.write_bytes(b"x")
    code, _, err = run_cli(capsys, HELLO, "--mem", "00", "--mem-file", blob)
    assert code == 2 and "either --mem or --mem-file" in err


def test_run_does_not_import_heavy_modules() -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c",
                           f"import sys; from cli.main import main; sys.exit(main(['run', {str(HELLO)!r}]))"],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0 and proc.stdout == "0x68656c6c6f\n"
    imported = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines()
                if line.startswith("import time:")}
    assert not imported & {"frida", "lief", "capstone", "keystone", "elftools", "yaml"}


def test_helper_the_runtime_lacks_is_refused_before_running(capsys, tmp_path: Path) -> None:
    prog = tmp_path / "j.asm"
    prog.write_text("mov %r0, 0\ncall bpf_jiffies64\nexit\n")
    for engine in ("interp", "jit"):  # the run class grants only what the runtime has
        code, out, err = run_cli(capsys, prog, "--engine", engine)
        assert code == 1 and out == ""
        assert err.startswith(f"bpftime: error: {prog}: instruction 1 `call 118`")
        assert "helper bpf_jiffies64 is not granted to class run" in err
        assert err.count("\n") == 1
