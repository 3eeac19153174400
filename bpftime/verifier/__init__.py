"""The verifier: proves, before anything runs, that a program stays inside its class.

Public API (the run pipeline, `load`, `attach` and `bpftime verify` call these):

    verify(insns, *, maps, policy, btf=None, line_info=None, externs=None,
           name="prog", budget=1_000_000, log=None) -> VerifyResult
    verify_program(program, obj, policy, *, budget=1_000_000, log=None) -> VerifyResult

`insns` is a self-contained program (docs/internals.md): maps as `Pseudo.MAP_IDX`
indices into `maps` (objects with name, type, key_size, value_size, max_entries,
flags — `bpftime.elf.model.MapDef`), extern calls as `CallKind.KFUNC` with an index
into `externs` (objects with `.name`, or names). `line_info` is a list of records with
insn, file, line, source (`bpftime.elf.model.LineInfo`) used in messages. `log`, if
given, receives the walk line by line (the `-v` of `bpftime verify`). A malformed
program raises `bpftime.errors.DecodeError`.

`VerifyResult` holds what was proven: `max_instructions` (an upper bound on the
instructions one invocation executes; a bpf_loop counts its callback nr times, at most
2^23 — the runtime's bpf_loop must refuse more), `memory` (= `map_bytes` of the maps
the program references + `stack_depth`, the deepest call chain's stack), `processed`.
Helper prototypes are in `bpftime.helper_protos` (argument and return kinds by id).

A rejection raises `Rejected` (a `bpftime.errors.VerifyError`) whose one-line message
names the program, the instruction, its source line, the rule broken and the register
state there. The policy input is `bpftime.policy.Policy`; see
`default_tracing_policy`, `memory_policy` and `context_for` (attach kind -> context
layout) there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bpftime.errors import DecodeError
from bpftime.isa import Insn, validate_program
from bpftime.kernel_abi import MapType
from bpftime.verifier.diag import Refusal, Rejected
from bpftime.policy import (ContextKind, Policy, context_for, default_tracing_policy,
                                     memory_policy)

__all__ = ["verify", "verify_program", "VerifyResult", "Rejected", "Policy", "ContextKind",
           "default_tracing_policy", "memory_policy", "context_for", "map_bytes"]

BUDGET = 1_000_000


@dataclass(frozen=True)
class VerifyResult:
    """What verification proved about an accepted program."""

    name: str
    processed: int          # instructions the walk processed
    max_instructions: int   # proven bound on instructions executed per invocation
    stack_depth: int        # bytes of stack over the deepest call chain
    map_bytes: int          # bytes of the maps the program uses
    states: int             # states kept for pruning

    @property
    def memory(self) -> int:
        return self.map_bytes + self.stack_depth

    def to_json(self) -> dict:
        return {"name": self.name, "processed": self.processed,
                "max_instructions": self.max_instructions, "memory": self.memory,
                "stack_depth": self.stack_depth, "map_bytes": self.map_bytes}


def map_bytes(m) -> int:
    """Bytes a map occupies: the data it can hold (ring buffers: their size)."""
    mtype = m.type
    if mtype in (MapType.RINGBUF, MapType.USER_RINGBUF):
        return m.max_entries
    if mtype in (MapType.ARRAY, MapType.PERCPU_ARRAY):
        return m.value_size * m.max_entries
    if mtype == MapType.PERF_EVENT_ARRAY:
        return 0
    return (m.key_size + m.value_size) * m.max_entries


def verify(insns: list[Insn], *, maps: list, policy: Policy, btf=None, line_info: list | None = None,
           externs: list | None = None, name: str = "prog", budget: int = BUDGET,
           log: Callable[[str], None] | None = None) -> VerifyResult:
    """Prove `insns` safe under `policy`; raise Rejected otherwise. `btf` (a
    `bpftime.btf.Btf`) sizes kconfig externs."""
    from bpftime.verifier.calls import max_stack
    from bpftime.verifier.checker import Walker

    try:
        validate_program(insns)
    except DecodeError as err:
        err.message = f"{name}: {err.message}"
        raise
    w = Walker(insns, maps, policy, externs or [], line_info, name, budget, log, btf)
    w.run()
    depth, chain = max_stack(w)
    if depth > 512:
        raise w.rejected(chain[-1], Refusal(
            f"stack overflow across calls: the combined stack of the call chain through "
            f"instructions {chain} is {depth} bytes, more than 512"), None)
    used = sum(map_bytes(maps[i]) for i in sorted(w.maps_used))
    result = VerifyResult(name, w.processed, w.longest, depth, used,
                          sum(len(v) for v in w.checkpoints.values()))
    if log is not None:
        log(f"processed {result.processed} insns (limit {budget}), {result.states} states kept, "
            f"at most {result.max_instructions} insns per run, memory {result.memory} bytes")
    if policy.max_memory is not None and result.memory > policy.max_memory:
        raise Rejected(name, None, "", f"memory over the class's limit: maps {used} bytes + "
                       f"stack {depth} bytes = {result.memory} bytes, class "
                       f"{policy.class_name} allows {policy.max_memory}", "")
    return result


def verify_program(program, obj, policy: Policy, *, budget: int = BUDGET,
                   log: Callable[[str], None] | None = None) -> VerifyResult:
    """Verify a loader `Program` of `obj` (a `bpftime.elf.model.BpfObject`)."""
    return verify(program.insns, maps=obj.maps, policy=policy, btf=obj.btf,
                  line_info=program.line_info, externs=obj.externs, name=program.name,
                  budget=budget, log=log)
