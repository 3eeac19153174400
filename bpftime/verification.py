"""Verification of any input a user gives: a deployment spec (each extension under its
class), a bare object (each program under the default tracing class), or an assembly /
conformance `.data` file (in the memory context `bpftime run` gives it). A rejection is
a `Verdict`; malformed input raises LoadError. Used by `bpftime verify` and
`bpftime.api.verify`."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bpftime.errors import AsmError, DecodeError, LoadError, VerifyError

if TYPE_CHECKING:
    from bpftime.verifier import VerifyResult

NOT_AN_INPUT = ("expected a BPF object (clang -target bpf), an assembly/.data file "
                "or an EIM spec .yaml")


@dataclass
class Verdict:
    extension: str
    class_name: str
    program: str
    result: VerifyResult | None = None   # when accepted
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


def _check(extension: str, class_name: str, program: str,
           prove: Callable[[], VerifyResult]) -> Verdict:
    """Run `prove`; a rejection is a verdict, a malformed instruction a LoadError."""
    verdict = Verdict(extension, class_name, program)
    try:
        verdict.result = prove()
    except VerifyError as err:
        verdict.error = str(err)
    except DecodeError as err:  # names the program already
        raise LoadError(str(err)) from None
    return verdict


def _deployment(path: Path, log) -> list[Verdict]:
    from bpftime.eim import check_externs, load_deployment, load_extension
    from bpftime.verifier import verify_program

    verdicts = []
    for ext in load_deployment(path).extensions:
        obj, prog = load_extension(ext)
        check_externs(ext.policy, obj)
        verdicts.append(_check(ext.name, ext.class_name, prog.name,
                               lambda: verify_program(prog, obj, ext.policy, log=log)))
    return verdicts


def _bare_object(path: Path, log) -> list[Verdict]:
    from bpftime.elf import load_object
    from bpftime.verifier import context_for, default_tracing_policy, verify_program

    obj = load_object(path)
    if not obj.programs:
        raise LoadError(f"{path}: the object has no programs")
    verdicts = []
    for prog in obj.programs:
        policy = default_tracing_policy(context_for(prog.attach.kind, prog.attach.function))
        verdicts.append(_check(prog.name, policy.class_name, prog.name,
                               lambda: verify_program(prog, obj, policy, log=log)))
    return verdicts


def _program(path: Path, log) -> list[Verdict]:
    """An assembly or `.data` file, loaded and verified as `bpftime run` does it."""
    from bpftime.runner import load_runnable, run_policy, verify

    try:
        runnable = load_runnable(path)
    except AsmError as err:
        raise LoadError(str(err)) from None
    return [_check(runnable.source, run_policy(runnable).class_name, runnable.source,
                   lambda: verify(runnable, log))]


def _input_kind(path: Path) -> str:
    """development | deployment (a .yaml), program (.asm, .s, .data) or object (ELF)."""
    from bpftime.eim import SPEC_SUFFIXES, spec_kind
    from bpftime.runner import ASM_SUFFIXES, ELF_MAGIC

    if path.suffix in SPEC_SUFFIXES:
        return spec_kind(path)
    if path.suffix in (*ASM_SUFFIXES, ".data"):
        return "program"
    with path.open("rb") as f:
        if f.read(len(ELF_MAGIC)) == ELF_MAGIC:
            return "object"
    raise LoadError(f"{path}: {NOT_AN_INPUT}")


def check(path: Path, class_name: str = "default", log=None) -> tuple[str, list[Verdict]]:
    """The input's kind and the verdicts of a deployment, object or program file (a
    rejection is a verdict; malformed input raises LoadError); a development-time file
    has none (the command lists what it offers)."""
    if not path.is_file():
        raise LoadError(f"{path}: {'not a regular file' if path.exists() else 'no such file'}")
    if class_name != "default":
        raise LoadError(f"{path}: unknown class {class_name!r}: --class picks a bare object's "
                        "class, and without a spec only 'default' exists")
    kind = _input_kind(path)
    if kind == "development":
        return kind, []
    readers = {"deployment": _deployment, "object": _bare_object, "program": _program}
    return kind, readers[kind](path, log)
