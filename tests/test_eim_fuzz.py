"""Damaged specs never escape as a traceback: loading either succeeds or raises LoadError
with a one-line message that starts with the damaged file's name."""
from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bpftime.eim import load_deployment
from bpftime.errors import LoadError
from test_eim_errors import DEPLOY, DEV

SNIPPETS = [":", "- ", "[", "]", "{", "}", "x: y", "\t", "&a ", "*a", "!!binary ", "0x", "-1",
            "''", '"', "null", "~", "? ", "|", ">", "#", ",", "read(", "write(r.)", "ptr<", "->",
            "ret: ", "64KiB", "eim: 1", "name: observer", "entry: requestBegin", "inherits: [observer]"]


@st.composite
def damage(draw, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["delete", "duplicate", "truncate", "insert"]))
        if op == "delete" and len(lines) > 1:
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "truncate":
            lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
        else:
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(SNIPPETS)) + lines[i][at:]
    return "\n".join(lines) + "\n"


SPECS = Path(__file__).resolve().parents[1] / "specs"
PAIRS = {  # host -> (development file name, its text, deployment text)
    "demo_host": ("dev.eim.yaml", DEV, DEPLOY),
    "nginx_like": ("nginx.eim.yaml",
                   (SPECS / "nginx.eim.yaml").read_text().replace(
                       "host: ../tests/hosts/build/nginx_like-pie-O2", "host: {host}"),
                   (SPECS / "nginx.firewall.yaml").read_text()),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_damaged_specs_fail_cleanly(host_binary, data):
    name = data.draw(st.sampled_from(sorted(PAIRS)))
    dev_name, dev, deploy = PAIRS[name]
    dev = dev.format(host=host_binary(name))
    which = data.draw(st.sampled_from(["dev", "deploy"]))
    if which == "dev":
        dev = data.draw(damage(dev))
    else:
        deploy = data.draw(damage(deploy))
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / dev_name).write_text(dev)
        path = Path(tmp) / "deploy.yaml"
        path.write_text(deploy)
        try:
            load_deployment(path)
        except LoadError as err:
            message = str(err)
            assert "\n" not in message
            # a damaged development file may surface as a grant the deployment cannot resolve
            files = (f"{tmp}/{dev_name}:", f"{path}:") if which == "dev" else (f"{path}:",)
            assert message.startswith(files), message
