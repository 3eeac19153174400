"""`bpftime verify SPEC.yaml | OBJ`: prove extensions safe before they run.

A deployment file verifies each extension it names under its class; a bare object
verifies each of its programs under the default tracing class. Exit 0 when all pass,
1 when one is rejected, 2 when the spec or an object is malformed (a LoadError).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import click

from bpftime.errors import LoadError, VerifyError


@dataclass
class Verdict:
    extension: str
    class_name: str
    program: str
    result: object | None = None   # VerifyResult when accepted
    error: str | None = None

    def to_json(self) -> dict:
        out = {"extension": self.extension, "class": self.class_name, "program": self.program,
               "verdict": "accepted" if self.error is None else "rejected"}
        if self.result is not None:
            r = self.result
            out.update(processed=r.processed, max_instructions=r.max_instructions,
                       memory=r.memory, stack_depth=r.stack_depth, map_bytes=r.map_bytes)
        else:
            out["error"] = self.error
        return out

    def line(self) -> str:
        if self.error is not None:
            return f"{self.extension} (class {self.class_name}): rejected: {self.error}"
        r = self.result
        return (f"{self.extension} (class {self.class_name}): accepted: {r.processed} instructions "
                f"processed, at most {r.max_instructions} executed, memory {r.memory} bytes "
                f"(maps {r.map_bytes} + stack {r.stack_depth})")


def _check(extension: str, class_name: str, prog, obj, policy, log) -> Verdict:
    from bpftime.verifier import verify_program

    verdict = Verdict(extension, class_name, prog.name)
    try:
        verdict.result = verify_program(prog, obj, policy, log=log)
    except VerifyError as err:
        verdict.error = str(err)
    return verdict


def _deployment(path: Path, log) -> list[Verdict]:
    from bpftime.eim import check_externs, load_deployment
    from bpftime.elf import load_object

    deployment = load_deployment(path)
    verdicts = []
    for ext in deployment.extensions:
        if not Path(ext.object).exists():
            raise LoadError(f"{path}: extension {ext.name}: object {ext.object} not found")
        obj = load_object(ext.object)
        prog = obj.program(ext.program)
        check_externs(ext.policy, obj)
        verdicts.append(_check(ext.name, ext.class_name, prog, obj, ext.policy, log))
    return verdicts


def _bare_object(path: Path, class_name: str, log) -> list[Verdict]:
    from bpftime.elf import load_object
    from bpftime.verifier import context_for, default_tracing_policy

    if class_name != "default":
        raise LoadError(f"{path}: unknown class {class_name!r}: without a spec only 'default' exists")
    obj = load_object(path)
    if not obj.programs:
        raise LoadError(f"{path}: the object has no programs")
    return [_check(prog.name, class_name, prog, obj,
                   default_tracing_policy(context_for(prog.attach.kind, prog.attach.function)), log)
            for prog in obj.programs]


@click.command("verify")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--class", "class_name", default="default", show_default=True,
              help="Class of a bare object (a spec names each extension's class).")
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON.")
@click.option("-v", "--verbose", is_flag=True, help="Print the verifier's walk.")
def verify(path: Path, class_name: str, as_json: bool, verbose: bool) -> int:
    """Verify every extension of a deployment SPEC.yaml, or every program of an OBJ."""
    if not path.exists():
        raise LoadError(f"{path}: no such file")
    log = (lambda line: click.echo(line, err=as_json)) if verbose else None
    if path.suffix in (".yaml", ".yml"):
        verdicts = _deployment(path, log)
    else:
        verdicts = _bare_object(path, class_name, log)
    if as_json:
        click.echo(json.dumps({"source": str(path), "extensions": [v.to_json() for v in verdicts]},
                              indent=2))
    else:
        for v in verdicts:
            click.echo(v.line())
    return 1 if any(v.error is not None for v in verdicts) else 0
