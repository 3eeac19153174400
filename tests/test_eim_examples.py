"""The example specs end to end: their extensions (specs/bpf) build, declare their externs
as the specs say, and pass the verifier under their classes — and not under a class
that lacks a grant they use."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import build_bpf
from bpftime.eim import check_externs, load_deployment
from bpftime.errors import VerifyError

SPECS = Path(__file__).resolve().parents[1] / "specs"
EXAMPLES = {"demo.observer.yaml": "demo_host", "nginx.firewall.yaml": "nginx_like",
            "redis.durability.yaml": "redis_like"}


def load(spec: str, host_binary):
    from bpftime.elf import load_object

    deployment = load_deployment(SPECS / spec, host=host_binary(EXAMPLES[spec]))
    objects = {}
    for ext in deployment.extensions:
        source = SPECS / "bpf" / ext.object.name.replace(".bpf.o", ".bpf.c")
        assert build_bpf(source, ext.object.parent) == ext.object
        objects[ext.name] = load_object(ext.object)
    return deployment, objects


@pytest.mark.parametrize("spec", sorted(EXAMPLES))
def test_example_extensions_pass_under_their_class(spec, host_binary):
    from bpftime.verifier import verify_program

    deployment, objects = load(spec, host_binary)
    for ext in deployment.extensions:
        obj = objects[ext.name]
        check_externs(ext.policy, obj)
        result = verify_program(obj.program(ext.program), obj, ext.policy)
        assert result.max_instructions <= ext.policy.max_instructions


def test_rewriter_needs_its_grants(host_binary):
    """The object that passes as `rewriter` calls checksum (not granted to `observer`) and
    writes r->status (refused once the write(r.status) grant is taken away)."""
    from dataclasses import replace

    from bpftime.verifier import verify_program

    deployment, objects = load("demo.observer.yaml", host_binary)
    obj = objects["status-rewriter"]
    prog = obj.program("rewrite_status")
    with pytest.raises(VerifyError, match="host function checksum is not granted to class observer"):
        verify_program(prog, obj, deployment.classes["observer"].policy)
    rewriter = deployment.classes["rewriter"].policy
    (arg,) = rewriter.entry_args
    read_only = replace(rewriter, entry_args=(replace(arg, write_fields=()),))
    with pytest.raises(VerifyError, match="write through read-only grant"):
        verify_program(prog, obj, read_only)
