"""Bad EIM specs: each one a single `file:line:column: message` LoadError (exit code 2)."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from bpftime.eim import load_deployment, load_development
from bpftime.errors import LoadError

DEV = """\
eim: 1
host: {host}
state:
  - name: readCounter
    variable: demo_counter
functions:
  - name: copyBytes
    function: copy_bytes
    prototype: "(ptr dst, ptr src, u64 n) -> ptr"
    constraints: ["writes(dst, n)", "reads(src, n)", "n <= 4096", "ret == dst"]
entries:
  - name: requestBegin
    function: process_request
    prototype: "(ptr<request> r) -> i64"
"""

DEPLOY = """\
eim: 1
uses: dev.eim.yaml
classes:
  - name: observer
    entry: requestBegin
    allow: [read(r), readCounter]
    helpers: [map_lookup_elem]
    limits: {instructions: 100, memory: 64KiB}
extensions:
  - name: ext
    object: ext.bpf.o
    program: prog
    class: observer
"""


@pytest.fixture
def demo(host_binary) -> Path:
    return host_binary("demo_host")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text))
    return path


def dev_error(tmp_path: Path, host: Path, text: str) -> str:
    path = write(tmp_path, "dev.eim.yaml", text.format(host=host))
    with pytest.raises(LoadError) as info:
        load_development(path)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "\n" not in message
    return message.removeprefix(f"{path}:")


def deploy_error(tmp_path: Path, host: Path, text: str, dev: str = DEV) -> str:
    write(tmp_path, "dev.eim.yaml", dev.format(host=host))
    path = write(tmp_path, "deploy.yaml", text)
    with pytest.raises(LoadError) as info:
        load_deployment(path)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "\n" not in message
    return message


def test_valid_pair_loads(tmp_path, demo):
    write(tmp_path, "dev.eim.yaml", DEV.format(host=demo))
    deployment = load_deployment(write(tmp_path, "deploy.yaml", DEPLOY))
    assert [e.name for e in deployment.extensions] == ["ext"]
    assert deployment.extensions[0].object == tmp_path / "ext.bpf.o"


def test_malformed_yaml(tmp_path, demo):
    msg = dev_error(tmp_path, demo, "eim: 1\nhost: {host}\nstate: [a, b\nfunctions: []\n")
    assert msg == ("4:10: malformed YAML: expected ',' or ']', but got ':' "
                   "(while parsing a flow sequence started at line 3)")


def test_tab_indentation_is_malformed(tmp_path, demo):
    msg = dev_error(tmp_path, demo, "eim: 1\nhost: {host}\nstate:\n\t- name: x\n")
    assert msg.startswith("4:1: malformed YAML:")


def test_empty_file(tmp_path, demo):
    assert dev_error(tmp_path, demo, "") == "1:1: empty specification"


def test_unknown_top_level_key(tmp_path, demo):
    msg = dev_error(tmp_path, demo, DEV + "extras: 1\n")
    assert msg.startswith("15:1: development spec: unknown key 'extras'")


def test_unknown_key_in_function(tmp_path, demo):
    text = DEV.replace("    constraints:", "    constrains:")
    assert dev_error(tmp_path, demo, text).startswith(
        "10:5: function capability: unknown key 'constrains'")


def test_duplicate_key(tmp_path, demo):
    text = DEV.replace("    variable: demo_counter\n",
                       "    variable: demo_counter\n    variable: demo_limit\n")
    assert dev_error(tmp_path, demo, text) == \
        "6:5: state capability: duplicate key 'variable' (first at line 5)"


def test_bad_version(tmp_path, demo):
    assert dev_error(tmp_path, demo, DEV.replace("eim: 1", "eim: 2")) == \
        "1:6: unsupported eim version 2 (this bpftime reads version 1)"


def test_version_must_be_a_number(tmp_path, demo):
    assert dev_error(tmp_path, demo, DEV.replace("eim: 1", "eim: one")) == \
        "1:6: eim: expected an integer, got 'one'"


def test_missing_required_key(tmp_path, demo):
    text = DEV.replace("    function: process_request\n", "")
    assert dev_error(tmp_path, demo, text) == "12:5: entry: missing 'function'"


def test_duplicate_names_across_sections(tmp_path, demo):
    text = DEV.replace("  - name: requestBegin", "  - name: copyBytes")
    assert dev_error(tmp_path, demo, text) == \
        "12:11: duplicate capability or entry name 'copyBytes' (first defined at line 7)"


def test_prototype_does_not_parse(tmp_path, demo):
    text = DEV.replace('"(ptr dst, ptr src, u64 n) -> ptr"', '"(ptr dst, ptr src, u65 n) -> ptr"')
    msg = dev_error(tmp_path, demo, text)
    assert msg.startswith("9:16: function 'copyBytes': prototype \"(ptr dst, ptr src, u65 n) -> ptr\" "
                          "does not parse: expected a type")
    assert "'u65' (character 20)" in msg


def test_prototype_missing_arrow(tmp_path, demo):
    text = DEV.replace('"(ptr<request> r) -> i64"', '"(ptr<request> r) i64"')
    msg = dev_error(tmp_path, demo, text)
    assert msg.startswith("14:16: entry 'requestBegin': prototype")
    assert "expected '->' and a return type at 'i64'" in msg


def test_constraint_does_not_parse(tmp_path, demo):
    text = DEV.replace('"n <= 4096"', '"n <=> 4096"')
    msg = dev_error(tmp_path, demo, text)
    assert msg.startswith("10:54: function 'copyBytes': constraint 'n <=> 4096' does not parse")


def test_constraint_names_unknown_parameter(tmp_path, demo):
    text = DEV.replace('"reads(src, n)"', '"reads(source, n)"')
    assert dev_error(tmp_path, demo, text) == \
        "10:37: function 'copyBytes': constraint reads(source, n): 'source' is not a parameter"


def test_unknown_constraint_kind(tmp_path, demo):
    text = DEV.replace('"reads(src, n)"', '"peeks(src, n)"')
    assert "unknown constraint 'peeks'" in dev_error(tmp_path, demo, text)


def test_missing_host_binary(tmp_path, demo):
    msg = dev_error(tmp_path, tmp_path / "no-such-host", DEV)
    assert msg == f"2:7: host binary {tmp_path / 'no-such-host'} not found"


def test_host_is_not_elf(tmp_path, demo):
    fake = write(tmp_path, "fake-host", "#!/bin/sh\n")
    with pytest.raises(LoadError, match="host binary is not an ELF file"):
        load_development(write(tmp_path, "dev.eim.yaml", DEV.format(host=fake)))


def test_symbol_not_in_host(tmp_path, demo):
    text = DEV.replace("function: copy_bytes", "function: copy_bites")
    assert dev_error(tmp_path, demo, text) == \
        f"7:5: function 'copyBytes': 'copy_bites' is not a symbol of host {demo}"


def test_variable_that_is_a_function(tmp_path, demo):
    text = DEV.replace("variable: demo_counter", "variable: add")
    assert dev_error(tmp_path, demo, text) == \
        f"4:5: state 'readCounter': 'add' is a function in host {demo}"


def test_prototype_mismatch_names_both(tmp_path, demo):
    text = DEV.replace('"(ptr dst, ptr src, u64 n) -> ptr"', '"(ptr dst, ptr src, u32 n) -> ptr"')
    assert dev_error(tmp_path, demo, text) == (
        "7:5: function 'copyBytes': spec prototype \"(ptr dst, ptr src, u32 n) -> ptr\" does not "
        "match the host's \"void * copy_bytes(void * dst, void * src, uint64_t n)\" "
        "(parameter 3 'n' is u32 in the spec but 'uint64_t n' in the host)")


def test_prototype_parameter_count_mismatch(tmp_path, demo):
    text = DEV.replace('"(ptr<request> r) -> i64"', '"(ptr<request> r, i32 x) -> i64"')
    assert "(2 parameters in the spec, 1 in the host)" in dev_error(tmp_path, demo, text)


def test_pointer_to_the_wrong_struct(tmp_path, demo):
    text = DEV.replace('"(ptr<request> r) -> i64"', '"(ptr<worker> r) -> i64"')
    assert "parameter 1 'r' is ptr<worker> in the spec but 'struct request * r' in the host" \
        in dev_error(tmp_path, demo, text)


def test_too_many_call_arguments(tmp_path, demo):
    text = DEV.replace('"(ptr dst, ptr src, u64 n) -> ptr"',
                       '"(ptr a, ptr b, u64 c, u64 d, u64 e, u64 f) -> ptr"')
    text = text.replace('    constraints: ["writes(dst, n)", "reads(src, n)", "n <= 4096", "ret == dst"]\n', "")
    assert "6 parameters, but an eBPF call passes at most 5" in dev_error(tmp_path, demo, text)


def test_bad_access_value(tmp_path, demo):
    text = DEV.replace("    variable: demo_counter\n", "    variable: demo_counter\n    access: rw\n")
    assert dev_error(tmp_path, demo, text) == \
        "6:13: state 'readCounter': access must be read or write, got 'rw'"


# --- deployment files ---------------------------------------------------------------
def test_missing_uses_file(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("uses: dev.eim.yaml", "uses: gone.yaml"))
    assert msg == f"{tmp_path / 'deploy.yaml'}:2:7: uses: {tmp_path / 'gone.yaml'} not found"


def test_error_in_used_file_names_that_file(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY, dev=DEV.replace("eim: 1", "eim: 3"))
    assert msg.startswith(f"{tmp_path / 'dev.eim.yaml'}:1:6: unsupported eim version 3")


def test_missing_deployment_host_is_located(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("uses: dev.eim.yaml\n",
                                                      "uses: dev.eim.yaml\nhost: gone\n"))
    assert msg == f"{tmp_path / 'deploy.yaml'}:3:7: host binary {tmp_path / 'gone'} not found"


def test_class_bound_to_unknown_entry(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("entry: requestBegin", "entry: requestBgin"))
    assert msg == (f"{tmp_path / 'deploy.yaml'}:5:12: class 'observer': unknown entry 'requestBgin' "
                   "(entries of dev.eim.yaml: requestBegin)")


def test_unknown_capability_suggests_the_closest(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("readCounter]", "readCountr]"))
    assert msg == (f"{tmp_path / 'deploy.yaml'}:6:22: class 'observer': capability 'readCountr' "
                   "is unknown; did you mean 'readCounter'? (built-ins at entry 'requestBegin': "
                   "return, io, read(r), write(r); capabilities of dev.eim.yaml: readCounter, "
                   "copyBytes)")


def test_misspelled_builtin_is_suggested(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("readCounter]", "retrun]"))
    assert ":6:22: class 'observer': capability 'retrun' is unknown; did you mean 'return'?" in msg


def test_unknown_capability_far_from_everything_has_no_suggestion(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("readCounter]", "zzz]"))
    assert "'zzz' is unknown (built-ins" in msg and "did you mean" not in msg


def test_return_entry_offers_no_argument_grants(tmp_path, demo):
    dev = DEV + "  - name: requestEnd\n    function: process_request\n    at: return\n" \
                "    prototype: \"(ptr<request> r) -> i64\"\n"
    text = DEPLOY.replace("entry: requestBegin", "entry: requestEnd").replace(
        "allow: [read(r), readCounter]", "allow: [readCountr]")
    msg = deploy_error(tmp_path, demo, text, dev=dev)
    assert "(built-ins at entry 'requestEnd': return, io; capabilities" in msg


def test_entry_is_not_a_capability(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("readCounter]", "requestBegin]"))
    assert ":6:22: class 'observer': capability 'requestBegin' is an entry, not a capability" in msg


def test_unknown_helper(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("[map_lookup_elem]", "[map_lookup_elem, bpf_nosuch]"))
    assert msg == (f"{tmp_path / 'deploy.yaml'}:7:32: class 'observer': unknown helper 'bpf_nosuch' "
                   "(not a kernel eBPF helper)")


def test_allow_item_does_not_parse(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("read(r)", "read(r"))
    assert msg.startswith(f"{tmp_path / 'deploy.yaml'}:6:13: allow: 'read(r' does not parse")


def test_grant_on_unknown_argument(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("read(r)", "read(req)"))
    assert msg == (f"{tmp_path / 'deploy.yaml'}:6:13: class 'observer': read(req): entry "
                   "'requestBegin' has no parameter 'req' (parameters: r)")


def test_write_to_unknown_field(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("read(r)", "write(r.stat)"))
    assert msg.startswith(f"{tmp_path / 'deploy.yaml'}:6:13: class 'observer': write(r.stat): "
                          "type 'request' has no field 'stat' (fields: id, status, path, bytes, peer)")


def test_unknown_class_of_extension(tmp_path, demo):
    msg = deploy_error(tmp_path, demo, DEPLOY.replace("class: observer", "class: obsrver"))
    assert msg == (f"{tmp_path / 'deploy.yaml'}:13:12: extension 'ext': unknown class 'obsrver' "
                   "(known: observer)")


def test_duplicate_class(tmp_path, demo):
    text = DEPLOY.replace("extensions:", "  - name: observer\n    entry: requestBegin\nextensions:")
    assert deploy_error(tmp_path, demo, text) == \
        f"{tmp_path / 'deploy.yaml'}:9:11: duplicate class name 'observer' (first defined at line 4)"


def test_inherits_unknown_class(tmp_path, demo):
    text = DEPLOY.replace("    limits:", "    inherits: [nobody]\n    limits:")
    assert deploy_error(tmp_path, demo, text) == \
        f"{tmp_path / 'deploy.yaml'}:8:16: class 'observer': inherits unknown class 'nobody'"


def test_inheritance_cycle(tmp_path, demo):
    text = DEPLOY.replace("    limits:", "    inherits: [b]\n    limits:").replace(
        "extensions:", "  - name: b\n    inherits: [observer]\nextensions:")
    msg = deploy_error(tmp_path, demo, text)
    assert msg == f"{tmp_path / 'deploy.yaml'}:11:16: class 'b': inheritance cycle observer -> b -> observer"


def test_class_inheriting_itself(tmp_path, demo):
    text = DEPLOY.replace("    limits:", "    inherits: [observer]\n    limits:")
    assert deploy_error(tmp_path, demo, text).endswith(
        ":8:16: class 'observer': inheritance cycle observer -> observer")


@pytest.mark.parametrize("limits, error", [
    ("{instructions: 100, memory: 64KB}",
     "8:41: class 'observer' limits memory: '64KB' is not a size (an integer or a number with "
     "B, KiB, MiB or GiB)"),
    ("{instructions: 100, memory: 0}", "8:41: class 'observer' limits memory: must be greater than 0, got 0"),
    ("{instructions: many}", "8:28: class 'observer' limits instructions: expected an integer, got 'many'"),
    ("{instructions: -5}", "8:28: class 'observer' limits instructions: must be greater than 0"),
    ("{cycles: 5}", "8:14: class 'observer' limits: unknown key 'cycles' (expected one of: "
     "instructions, memory)"),
])
def test_bad_limits(tmp_path, demo, limits, error):
    text = DEPLOY.replace("{instructions: 100, memory: 64KiB}", limits)
    assert deploy_error(tmp_path, demo, text) == f"{tmp_path / 'deploy.yaml'}:{error}"


def test_no_host_anywhere(tmp_path, demo):
    text = DEV.replace("host: {host}\n", "")
    assert dev_error(tmp_path, demo, text) == \
        "1:1: no host: name the host binary here, in the deployment file, or on the command line"


def test_host_given_by_the_caller_only(tmp_path, demo):
    path = write(tmp_path, "dev.eim.yaml", DEV.replace("host: {host}\n", ""))
    assert load_development(path, host=demo).host == demo
    with pytest.raises(LoadError, match=f"^{tmp_path}/gone: host binary not found "
                                        f"\\(given for {path}\\)$"):
        load_development(path, host=tmp_path / "gone")


def test_class_without_entry_or_parent(tmp_path, demo):
    text = DEPLOY.replace("    entry: requestBegin\n", "")
    assert deploy_error(tmp_path, demo, text) == \
        f"{tmp_path / 'deploy.yaml'}:4:5: class 'observer': no entry given and inherits no class"


def test_symbol_imported_from_a_library(tmp_path, demo):
    text = DEV.replace("function: copy_bytes", "function: pthread_create").replace(
        '"(ptr dst, ptr src, u64 n) -> ptr"', '"(ptr t, ptr a, ptr f, ptr arg) -> i32"').replace(
        '["writes(dst, n)", "reads(src, n)", "n <= 4096", "ret == dst"]', "[]")
    assert dev_error(tmp_path, demo, text) == \
        f"7:5: function 'copyBytes': 'pthread_create' is imported by host {demo}, not defined in it"


def test_host_is_a_directory(tmp_path, demo):
    assert dev_error(tmp_path, tmp_path, DEV) == f"2:7: host binary {tmp_path} is not a regular file"


TYPES = """\
eim: 1
host: {host}
types:
  a_t:
    size: 8
    fields:
      inner: {{offset: 0, size: 8, type: b_t}}
  b_t:
    size: 8
    fields:
      back: {{offset: 0, size: 8, type: a_t}}
"""


def test_types_that_contain_each_other(tmp_path, demo):
    assert dev_error(tmp_path, demo, TYPES) == "11:40: field 'b_t.back': type 'a_t' contains itself"


def test_types_unknown_key_and_unknown_field_type(tmp_path, demo):
    assert dev_error(tmp_path, demo, TYPES.replace("    size: 8\n    fields:\n      back",
                                                   "    bytes: 8\n    fields:\n      back")) == \
        "9:5: type 'b_t': unknown key 'bytes' (expected one of: size, fields)"
    assert dev_error(tmp_path, demo, TYPES.replace("type: a_t", "type: c_t")) == \
        "11:40: field 'b_t.back': type 'c_t' is not in types:"


@pytest.mark.parametrize("damage, line", [
    (lambda dev, dep: (dev.replace("eim: 1", "eim: 2"), dep), "dev.eim.yaml:1:6: unsupported eim version 2"),
    (lambda dev, dep: (dev, dep.replace("entry: requestBegin", "entry: nowhere")),
     "deploy.yaml:5:12: class 'observer': unknown entry 'nowhere'"),
    (lambda dev, dep: (dev.replace("prototype: \"(ptr<request> r) -> i64\"", "prototype: \"(ptr<request> r\""),
                       dep), "dev.eim.yaml:14:16: entry 'requestBegin': prototype"),
    (lambda dev, dep: (dev.replace("host: ", "host: /nonexistent"), dep), "dev.eim.yaml:2:7: host binary"),
    (lambda dev, dep: (dev, dep + "  - x: [\n"), "deploy.yaml:15:1: malformed YAML"),
])
def test_bpftime_verify_prints_one_line_and_exits_2(tmp_path, demo, capsys, damage, line):
    """`bpftime verify SPEC.yaml` on a bad spec: one line naming file:line:column, exit 2."""
    from cli.main import main

    dev, dep = damage(DEV.format(host=demo), DEPLOY)
    write(tmp_path, "dev.eim.yaml", dev)
    path = write(tmp_path, "deploy.yaml", dep)
    assert main(["verify", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"bpftime: error: {tmp_path}/{line}"), err
