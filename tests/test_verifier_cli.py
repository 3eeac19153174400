"""`bpftime verify`: verdicts, exit codes (0 pass, 1 rejected, 2 malformed), --json, -v."""
from __future__ import annotations

import json
from pathlib import Path

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
    bad = tmp_path / "bad.o"
    bad.write_bytes(b"not an elf")
    code, _, err = verify_cli(capsys, bad)
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


def test_malformed_spec_exits_2_with_file_and_line(capsys, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("eim: 1\nclasses: [\n")
    code, _, err = verify_cli(capsys, spec)
    assert code == 2 and str(spec) in err and err.count("\n") == 1


def test_deployment_verifies_each_extension(capsys, tmp_path, host_binary):
    observer = build_bpf(SPECS / "bpf" / "demo_observer.bpf.c", tmp_path)
    unsafe = build_bpf(UNSAFE / "c_null_deref.bpf.c", tmp_path)
    spec = tmp_path / "deploy.yaml"
    spec.write_text(f"""eim: 1
uses: {SPECS / 'demo.eim.yaml'}
host: {host_binary('demo_host')}
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
  - name: broken
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
