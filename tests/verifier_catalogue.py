"""The unsafe-program catalogue (tests/programs/unsafe/*.asm and *.bpf.c) and the
policies it uses.

Each file starts with `# reason: TEXT` (what the rejection must say) and may add
`# context: KIND`, `# policy: default|eim`, `# map: NAME TYPE KEY VALUE ENTRIES [FLAGS]`,
`# extern: NAME`, `# limits: instructions=N memory=N` and `# budget: N` lines.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from bpftime.asm import assemble
from bpftime.elf.model import MapDef
from bpftime.helper_protos import TRACING_HELPERS
from bpftime.isa import Insn
from bpftime.kernel_abi import HELPER_IDS, MapType
from bpftime.verifier import BUDGET, default_tracing_policy
from bpftime.policy import (Constraint, ContextKind, EntryArg, FieldGrant, HostFunction,
                                     HostVariable, Policy, ValueKind, ValueType)

UNSAFE = Path(__file__).resolve().parent / "programs" / "unsafe"

U64 = ValueType(ValueKind.INT, 8)
PTR = ValueType(ValueKind.PTR, 0)


def _fn(symbol: str, params, ret, *constraints: Constraint) -> HostFunction:
    return HostFunction(symbol, symbol, tuple(params), ret, tuple(constraints))


def eim_policy() -> Policy:
    """A class like one bpftime.eim builds: host functions with constraints, two host
    variables, two entry arguments (one read-only, one with a writable field), limits."""
    functions = [
        _fn("host_copy", [("dst", PTR), ("src", PTR), ("n", U64)], PTR,
            Constraint("writes", ("dst", "n"), text="writes(dst, n)"),
            Constraint("reads", ("src", "n"), text="reads(src, n)"),
            Constraint("relation", ("n", 64), op="<=", text="n <= 64"),
            Constraint("relation", ("ret", "dst"), op="==", text="ret == dst")),
        _fn("host_time", [], U64, Constraint("relation", ("ret", 0), op=">", text="ret > 0")),
        _fn("host_alloc", [("n", U64)], PTR,
            Constraint("alloc", ("n",), nullable=True, text="ret: alloc(n) | null")),
        _fn("host_free", [("p", PTR)], ValueType(ValueKind.VOID, 0),
            Constraint("frees", ("p",), text="frees(p)")),
        _fn("host_log", [("msg", ValueType(ValueKind.STR, 0))], ValueType(ValueKind.VOID, 0),
            Constraint("io", text="io"), Constraint("str", ("msg",), text="str(msg)")),
        _fn("host_touch", [("p", PTR)], ValueType(ValueKind.VOID, 0),
            Constraint("nonnull", ("p",), text="nonnull(p)")),
        _fn("host_adjust", [("delta", ValueType(ValueKind.INT, 8, signed=True))], U64,
            Constraint("relation", ("delta", 0), op=">=", text="delta >= 0")),
    ]
    variables = [HostVariable("readCounter", "host_counter", 8, False),
                 HostVariable("setLimit", "host_limit", 4, True)]
    args = (EntryArg(0, "req", ValueType(ValueKind.PTR, 16, type_name="req"), read=True),
            EntryArg(1, "resp", ValueType(ValueKind.PTR, 32, type_name="resp"), read=True,
                     write_fields=(FieldGrant(8, 4),)))
    return Policy(class_name="eim", context=ContextKind.PT_REGS,
                  helpers=TRACING_HELPERS | {HELPER_IDS["override_return"]},
                  functions={f.symbol: f for f in functions},
                  variables={v.symbol: v for v in variables}, entry_args=args,
                  max_instructions=1000, max_memory=4096)


@dataclass
class Case:
    path: Path
    reason: str
    insns: list[Insn]
    maps: list[MapDef]
    externs: list[str]
    policy: Policy
    budget: int


def load_case(path: Path) -> Case:
    text = path.read_text()
    reason, context, policy_name, budget = "", None, "default", BUDGET
    maps: list[MapDef] = []
    externs: list[str] = []
    limits: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("# "):
            continue
        key, _, value = line[2:].partition(": ")
        if key == "reason":
            reason = value
        elif key == "context":
            context = ContextKind(value)
        elif key == "policy":
            policy_name = value
        elif key == "map":
            name, mtype, ks, vs, n, *flags = value.split()
            maps.append(MapDef(name, MapType.from_name(mtype), int(ks), int(vs), int(n),
                               flags=int(flags[0], 0) if flags else 0))
        elif key == "extern":
            externs.append(value)
        elif key == "limits":
            limits = {k: int(v) for k, v in (w.split("=") for w in value.split())}
        elif key == "budget":
            budget = int(value)
    policy = eim_policy() if policy_name == "eim" else default_tracing_policy()
    if context is not None:
        policy = replace(policy, context=context)
    if "instructions" in limits:
        policy = replace(policy, max_instructions=limits["instructions"])
    if "memory" in limits:
        policy = replace(policy, max_memory=limits["memory"])
    return Case(path, reason, assemble(text, str(path)), maps, externs, policy, budget)


def cases() -> list[Path]:
    return sorted(UNSAFE.glob("*.asm"))


def c_cases() -> list[Path]:
    """BPF C programs of the catalogue: the first line is `// reason: TEXT`."""
    return sorted(UNSAFE.glob("*.bpf.c"))
