"""Resolution of EIM specs against real hosts: LIEF symbols, DWARF layouts and prototypes,
and the `types:` fallback for hosts without DWARF."""
from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from bpftime.eim import load_deployment, load_development
from bpftime.errors import LoadError

REPO = Path(__file__).resolve().parents[1]
SPECS = REPO / "specs"
HOSTS = REPO / "tests" / "hosts"
VARIANTS = [(pie, opt) for pie in (True, False) for opt in ("O0", "O2")]


def nm_symbols(binary: Path) -> dict[str, tuple[int, int]]:
    """name -> (address, size) as binutils' nm sees it."""
    if shutil.which("nm") is None:
        pytest.skip("nm (binutils) is not installed")
    out = subprocess.run(["nm", "-S", "--defined-only", str(binary)], capture_output=True,
                         text=True, check=True).stdout
    symbols = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 4:
            symbols[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
    return symbols


def c_layout(tmp_path: Path, host: str, struct: str, members: list[str]) -> list[int]:
    """sizeof(struct) and offsetof/sizeof of each member path, as gcc computes them."""
    prints = [f'printf("%zu\\n", sizeof({struct}));']
    for m in members:
        prints.append(f'printf("%zu\\n", offsetof({struct}, {m}));')
        prints.append(f'printf("%zu\\n", sizeof((({struct} *)0)->{m}));')
    source = tmp_path / "layout.c"
    source.write_text(textwrap.dedent(f"""\
        #include <stddef.h>
        #include <stdio.h>
        #define main host_main
        #include "{HOSTS / (host + '.c')}"
        #undef main
        int main(void) {{ {' '.join(prints)} return 0; }}
        """))
    exe = tmp_path / "layout"
    subprocess.run(["gcc", "-pthread", str(source), "-o", str(exe)], check=True)
    return [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True,
                                           check=True).stdout.split()]


@pytest.mark.parametrize("pie, opt", VARIANTS)
@pytest.mark.parametrize("deploy", ["demo.observer.yaml", "nginx.firewall.yaml",
                                    "redis.durability.yaml"])
def test_example_specs_resolve_on_every_variant(host_binary, deploy, pie, opt):
    host_name = {"demo": "demo_host", "nginx": "nginx_like", "redis": "redis_like"}[deploy.split(".")[0]]
    binary = host_binary(host_name, pie, opt)
    deployment = load_deployment(SPECS / deploy, host=binary)
    assert deployment.development.host == binary
    assert deployment.classes and deployment.extensions
    for cls in deployment.classes.values():
        assert cls.entry.host == binary


@pytest.mark.parametrize("pie, opt", VARIANTS)
def test_entry_and_variable_addresses_match_nm(host_binary, pie, opt):
    binary = host_binary("demo_host", pie, opt)
    nm = nm_symbols(binary)
    deployment = load_deployment(SPECS / "demo.observer.yaml", host=binary)
    entry = deployment.classes["observer"].entry
    assert (entry.function, entry.at) == ("process_request", "entry")
    assert (entry.address, entry.size) == nm["process_request"]
    if not pie:
        assert entry.address >= 0x400000          # linked at the classic non-PIE base
    else:
        assert entry.address < 0x100000           # an offset from the load base
    addresses = deployment.development.addresses
    assert addresses["copy_bytes"] == nm["copy_bytes"][0]
    assert addresses["demo_limit"] == nm["demo_limit"][0]
    variables = deployment.classes["observer"].policy.variables
    assert variables["demo_counter"].size == nm["demo_counter"][1] == 8
    assert variables["demo_banner"].size == 16
    assert not variables["demo_counter"].writable


def test_demo_host_runs_and_prints_its_result(host_binary):
    """The demo host's output depends only on N and T (what hook tests compare against)."""
    out = subprocess.run([str(host_binary("demo_host")), "50", "3"], capture_output=True,
                         text=True, check=True).stdout
    expected = sum(i + 1 + i % 7 for i in range(150))
    assert out == f"calls=150 sum={expected} status={200 * 150}\n"


def test_demo_host_short_leaf_at_O2(host_binary):
    """add() is shorter than a 5-byte jump at -O2, which the hook tests rely on."""
    nm = nm_symbols(host_binary("demo_host", True, "O2"))
    assert nm["add"][1] < 5


def test_struct_layout_from_dwarf_matches_gcc(tmp_path, host_binary):
    members = ["id", "status", "path", "bytes", "peer", "peer.port", "peer.flags"]
    expected = c_layout(tmp_path, "demo_host", "struct request", members)
    dev = load_development(SPECS / "demo.eim.yaml", host=host_binary("demo_host"))
    layout = dev.layouts["request"]
    got = [layout.size]
    for m in members:
        head, *rest = m.split(".")
        field = layout.fields[head]
        offset, size = field.offset, field.size
        for name in rest:
            field = field.layout.fields[name]
            offset, size = offset + field.offset, field.size
        got += [offset, size]
    assert got == expected


def test_field_grants_match_gcc_offsets(tmp_path, host_binary):
    expected = c_layout(tmp_path, "nginx_like", "ngx_http_request_t",
                        ["headers_out.status"])
    deployment = load_deployment(SPECS / "nginx.firewall.yaml", host=host_binary("nginx_like"))
    (arg,) = deployment.classes["firewall"].policy.entry_args
    assert arg.type.size == expected[0]
    assert [(g.offset, g.size) for g in arg.write_fields] == [(expected[1], expected[2])]
    expected = c_layout(tmp_path, "redis_like", "client", ["flags"])
    deployment = load_deployment(SPECS / "redis.durability.yaml", host=host_binary("redis_like"))
    arg = deployment.classes["durability"].policy.entry_args[0]
    assert (arg.type.size, arg.write_fields[0].offset, arg.write_fields[0].size) == tuple(expected)


def test_struct_tag_and_typedef_both_name_the_type(tmp_path, host_binary):
    host = host_binary("nginx_like")
    spec = tmp_path / "dev.eim.yaml"
    spec.write_text(f"""eim: 1
host: {host}
entries:
  - name: a
    function: ngx_http_process_request
    prototype: "(ptr<ngx_http_request_s> r) -> void"
  - name: b
    function: ngx_http_process_request
    prototype: "(ptr<struct ngx_http_request_s> r) -> void"
""")
    dev = load_development(spec)
    assert dev.entries["a"].prototype.params[0][1].size == dev.layouts["ngx_http_request_s"].size


def test_bitfield_cannot_be_granted(tmp_path, host_binary):
    (tmp_path / "dev.eim.yaml").write_text((SPECS / "nginx.eim.yaml").read_text())
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text("eim: 1\nuses: dev.eim.yaml\nclasses:\n  - name: c\n"
                      "    entry: processBegin\n    allow: [write(r.keepalive)]\n")
    with pytest.raises(LoadError, match=r"deploy.yaml:6:13: class 'c': write\(r.keepalive\): "
                                        "field 'keepalive' is a bit-field"):
        load_deployment(deploy, host=host_binary("nginx_like"))


def stripped(tmp_path: Path, binary: Path) -> Path:
    if shutil.which("strip") is None:
        pytest.skip("strip (binutils) is not installed")
    out = tmp_path / (binary.name + "-nodebug")
    subprocess.run(["strip", "--strip-debug", str(binary), "-o", str(out)], check=True)
    return out


DEV_TYPES = """eim: 1
host: {host}
types:
  request:
    size: {size}
    fields:
      status: {{offset: 4, size: 4}}
      peer: {{offset: 40, size: 4, type: peer_t}}
  peer_t:
    size: 4
    fields:
      port: {{offset: 0, size: 2}}
entries:
  - name: begin
    function: process_request
    prototype: "(ptr<request> r) -> i64"
"""


def test_types_section_is_the_fallback_without_dwarf(tmp_path, host_binary):
    host = stripped(tmp_path, host_binary("demo_host"))
    (tmp_path / "dev.eim.yaml").write_text(DEV_TYPES.format(host=host, size=48))
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text("eim: 1\nuses: dev.eim.yaml\nclasses:\n  - name: c\n    entry: begin\n"
                      "    allow: [write(r.status), write(r.peer.port)]\n")
    arg = load_deployment(deploy).classes["c"].policy.entry_args[0]
    assert arg.type.size == 48 and arg.read
    assert [(g.offset, g.size) for g in arg.write_fields] == [(4, 4), (40, 2)]


def test_no_dwarf_and_no_types_entry(tmp_path, host_binary):
    host = stripped(tmp_path, host_binary("demo_host"))
    spec = tmp_path / "dev.eim.yaml"
    spec.write_text(DEV_TYPES.format(host=host, size=48).replace("ptr<request>", "ptr<reqest>"))
    with pytest.raises(LoadError) as info:
        load_development(spec)
    assert str(info.value) == (f"{spec}:14:5: entry 'begin': type 'reqest' is neither in the DWARF "
                               f"of host {host} nor in the spec's types: section")


def test_types_section_disagreeing_with_dwarf(tmp_path, host_binary):
    host = host_binary("demo_host")
    spec = tmp_path / "dev.eim.yaml"
    spec.write_text(DEV_TYPES.format(host=host, size=56))
    with pytest.raises(LoadError) as info:
        load_development(spec)
    assert str(info.value) == (f"{spec}:14:5: entry 'begin': type 'request' is 56 bytes in types: "
                               f"at {spec}:4:3 but 48 bytes in the DWARF of host {host}")


def test_types_field_outside_the_type(tmp_path, host_binary):
    spec = tmp_path / "dev.eim.yaml"
    spec.write_text(DEV_TYPES.format(host=host_binary("demo_host"), size=48)
                    .replace("{offset: 40, size: 4, type: peer_t}", "{offset: 46, size: 4}"))
    with pytest.raises(LoadError, match=r"dev.eim.yaml:8:13: field 'request.peer': bytes \[46, 50\) "
                                        "lie outside the type's 48 bytes"):
        load_development(spec)


def test_deployment_host_overrides_development_host(tmp_path, host_binary):
    binary = host_binary("demo_host", False, "O0")
    (tmp_path / "demo.eim.yaml").write_text((SPECS / "demo.eim.yaml").read_text()
                                            .replace("../tests", str(REPO / "tests")))
    deploy = tmp_path / "deploy.yaml"
    deploy.write_text(f"eim: 1\nuses: demo.eim.yaml\nhost: {binary}\n")
    assert load_deployment(deploy).development.host == binary
