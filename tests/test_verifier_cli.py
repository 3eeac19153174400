"""`bpftime verify`: verdicts, exit codes (0 pass, 1 rejected, 2 malformed), --json, -v."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.main import main
from conftest import BUILD, PROGRAMS, build_bpf

SPECS = Path(__file__).resolve().parents[1] / "specs"
UNSAFE = PROGRAMS / "unsafe"


def verify_cli(capsys, *args) -> tuple[int, str, str]:
    code = main(["verify", *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_safe_object_passes(capsys, bpf_object):
    code, out, err = verify_cli(capsys, bpf_object("counter"))
    assert code == 0 and err == ""
    assert "count_target (class default): accepted:" in out
    assert "at most 19 executed" in out


def test_unsafe_object_is_rejected_with_the_rule(capsys):
    obj = build_bpf(UNSAFE / "c_null_deref.bpf.c", BUILD / "unsafe")
    code, out, _ = verify_cli(capsys, obj)
    assert code == 1
    assert "count (class default): rejected: count: instruction" in out
    assert "null check missing" in out and "c_null_deref.bpf.c:19" in out


def test_json_gives_verdict_bound_and_memory(capsys, bpf_object):
    code, out, _ = verify_cli(capsys, bpf_object("counter"), "--json")
    assert code == 0
    first = json.loads(out)["extensions"][0]
    assert first["verdict"] == "accepted"
    assert first["max_instructions"] == 19 and first["processed"] >= 19
    assert first["memory"] == first["map_bytes"] + first["stack_depth"] > 0


def test_verbose_prints_the_walk(capsys, bpf_object):
    code, out, _ = verify_cli(capsys, bpf_object("counter"), "-v")
    assert code == 0
    assert "0: " in out and "R10=fp0" in out


def test_unknown_class_of_a_bare_object_is_malformed_input(capsys, bpf_object):
    code, out, err = verify_cli(capsys, bpf_object("counter"), "--class", "firewall")
    assert code == 2 and out == ""
    assert err.startswith("bpftime: error: ") and "unknown class 'firewall'" in err


def test_missing_and_garbage_inputs_exit_2(capsys, tmp_path):
    assert verify_cli(capsys, tmp_path / "none.o")[0] == 2
    assert verify_cli(capsys, tmp_path)[2] == f"bpftime: error: {tmp_path}: not a regular file\n"
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"not an elf")
    code, _, err = verify_cli(capsys, bad)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_c_source_is_named_as_the_wrong_input(capsys):
    source = UNSAFE / "c_null_deref.bpf.c"
    code, out, err = verify_cli(capsys, source)
    assert (code, out) == (2, "")
    assert err == (f"bpftime: error: {source}: expected a BPF object (clang -target bpf), "
                   "an assembly/.data file or an EIM spec .yaml\n")


@pytest.mark.parametrize("text, code, says", [
    ("mov %r0, 1\nexit\n", 0, "prog.asm (class run): accepted: 2 instructions processed"),
    ("ldxdw %r0, [%r1+8]\nexit\n", 1, "invalid read of input (out of bounds)"),
    ("mov %r0, 1\nfrobnicate\n", 2, "prog.asm:2: unknown mnemonic 'frobnicate'"),
])
def test_assembly_is_verified_as_bpftime_run_would(capsys, tmp_path, text, code, says):
    (tmp_path / "prog.asm").write_text(text)
    got, out, err = verify_cli(capsys, tmp_path / "prog.asm")
    assert got == code
    assert says in (out if code < 2 else err)


def test_data_file_is_verified_with_its_input(capsys, tmp_path):
    data = tmp_path / "load.data"
    data.write_text("-- asm\nldxdw %r0, [%r1+8]\nexit\n-- mem\n" + "00 " * 16 + "\n-- result\n0x0\n")
    code, out, _ = verify_cli(capsys, data)
    assert code == 0 and "load.data (class run): accepted" in out
    data.write_text(data.read_text().replace("00 " * 16, "00 " * 12))
    assert verify_cli(capsys, data)[0] == 1


def test_help_states_exit_codes_and_classes(capsys):
    code, out, _ = verify_cli(capsys, "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "0 every program accepted" in text and "1 a program rejected" in text
    assert "2 malformed input" in text
    assert "the only choice is 'default'" in text


def test_development_file_lists_what_the_host_offers(capsys):
    code, out, err = verify_cli(capsys, SPECS / "demo.eim.yaml")
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].endswith("demo_host-pie-O2: 3 state, 3 functions, 4 entries")
    assert lines[1].startswith("state readCounter: demo_counter, 8 bytes, read, at 0x")
    assert 'function checksum: checksum "(ptr<request> r, u64 n) -> u64" [reads(r, n), n <= 24], ' \
        in out
    assert 'entry requestEnd: process_request at return "(ptr<request> r) -> i64", at 0x' in out
    assert len(lines) == 1 + 3 + 3 + 4


def test_development_file_as_json(capsys):
    code, out, _ = verify_cli(capsys, SPECS / "demo.eim.yaml", "--json")
    offers = {o["name"]: o for o in json.loads(out)["offers"]}
    assert code == 0 and offers["limit"]["access"] == "write" and offers["limit"]["size"] == 4
    assert offers["addEntry"]["size"] == 4 and offers["copyBytes"]["constraints"][-1] == "ret == dst"


def test_development_file_error_is_located(capsys, tmp_path, host_binary):
    dev = tmp_path / "dev.eim.yaml"
    dev.write_text(f"eim: 1\nhost: {host_binary('demo_host')}\nfunctions:\n  - name: f\n"
                   "    function: copy_bites\n    prototype: \"() -> void\"\n")
    code, out, err = verify_cli(capsys, dev)
    assert (code, out) == (2, "")
    assert err.startswith(f"bpftime: error: {dev}:4:5: function 'f': 'copy_bites' is not a symbol")


def test_malformed_spec_exits_2_with_file_and_line(capsys, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("eim: 1\nclasses: [\n")
    code, _, err = verify_cli(capsys, spec)
    assert code == 2 and str(spec) in err and err.count("\n") == 1


DEPLOYMENT = """eim: 1
uses: {uses}
host: {host}
classes:
  - name: observer
    entry: requestBegin
    allow: [read(r), readCounter, banner]
    helpers: [map_lookup_elem, map_update_elem, ringbuf_output, ktime_get_ns,
              get_current_pid_tgid]
    limits: {{instructions: 10000, memory: 64KiB}}
extensions:
  - name: counter
    object: {observer}
    program: count_requests
    class: observer
"""


def deployment(tmp_path: Path, host_binary, **changes) -> Path:
    """A deployment of specs/bpf/demo_observer.bpf.c as `counter`, with `changes` to its
    fields (uses, host, observer)."""
    fields = {"uses": SPECS / "demo.eim.yaml", "host": host_binary("demo_host"),
              "observer": build_bpf(SPECS / "bpf" / "demo_observer.bpf.c", tmp_path), **changes}
    spec = tmp_path / "deploy.yaml"
    spec.write_text(DEPLOYMENT.format(**fields))
    return spec


def test_deployment_verifies_each_extension(capsys, tmp_path, host_binary):
    unsafe = build_bpf(UNSAFE / "c_null_deref.bpf.c", tmp_path)
    spec = deployment(tmp_path, host_binary)
    spec.write_text(spec.read_text() + f"""  - name: broken
    object: {unsafe}
    program: count
    class: observer
""")
    code, out, _ = verify_cli(capsys, spec, "--json")
    assert code == 1
    verdicts = {e["extension"]: e for e in json.loads(out)["extensions"]}
    assert verdicts["counter"]["verdict"] == "accepted"
    assert verdicts["counter"]["max_instructions"] <= 10000
    assert verdicts["broken"]["verdict"] == "rejected"
    assert "null check missing" in verdicts["broken"]["error"]


def test_missing_object_is_located_at_its_line(capsys, tmp_path, host_binary):
    spec = deployment(tmp_path, host_binary, observer=tmp_path / "obsrver.bpf.o")
    code, _, err = verify_cli(capsys, spec)
    assert code == 2
    assert err == (f"bpftime: error: {spec}:13:13: extension 'counter': object "
                   f"{tmp_path / 'obsrver.bpf.o'} not found\n")


def test_malformed_object_is_located_at_its_line(capsys, tmp_path, host_binary):
    garbage = tmp_path / "garbage.bpf.o"
    garbage.write_bytes(b"garbage")
    code, _, err = verify_cli(capsys, deployment(tmp_path, host_binary, observer=garbage))
    assert code == 2 and f"deploy.yaml:13:13: extension 'counter': {garbage}: " in err


def test_unknown_program_is_located_and_lists_the_programs(capsys, tmp_path, host_binary):
    spec = deployment(tmp_path, host_binary)
    spec.write_text(spec.read_text().replace("program: count_requests", "program: count_request"))
    code, _, err = verify_cli(capsys, spec)
    assert code == 2
    assert err == (f"bpftime: error: {spec}:14:14: extension 'counter': "
                   f"{tmp_path / 'demo_observer.bpf.o'}: no program named 'count_request' "
                   "(programs: count_requests)\n")
