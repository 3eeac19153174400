"""State pruning is pinned: how many instructions the walk processes, the proven
bound and the states it keeps, on the programs of bench/verifier_speed.py. A change
to how states are compared (or how fast) must leave these numbers as they are."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bpftime.asm import assemble
from bpftime.elf import load_object
from bpftime.verifier import context_for, default_tracing_policy, verify, verify_program
from conftest import BUILD, build_bpf

BENCH = Path(__file__).resolve().parents[1] / "bench"


def bench_program(size: int, seed: int) -> str:
    spec = importlib.util.spec_from_file_location("verifier_speed", BENCH / "verifier_speed.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.program(size, seed)


# (size, seed): (processed, max_instructions, states)
GENERATED = {
    (100, 1): (157, 149, 25), (100, 2): (166, 158, 26),
    (1000, 1): (1984, 1774, 290), (1000, 2): (2123, 1738, 306), (1000, 3): (1980, 1783, 290),
    (4000, 1): (8246, 6950, 1180), (4000, 2): (7970, 6950, 1139),
}
# clang-built bench/programs: name -> (processed, max_instructions, states)
OBJECTS = {
    "checksum": (8273, 8273, 23), "hash_loop": (4755, 2941, 73),
    "string_scan": (70013, 49288, 53), "switch32": (87218, 11792, 335),
}


@pytest.mark.parametrize("size, seed", GENERATED, ids=lambda v: str(v))
def test_generated_program_walk_is_unchanged(size, seed):
    insns = assemble(bench_program(size, seed))
    result = verify(insns, maps=[], policy=default_tracing_policy(), name=f"bench{size}")
    assert (result.processed, result.max_instructions, result.states) == GENERATED[size, seed]


@pytest.mark.parametrize("name", OBJECTS)
def test_bench_object_walk_is_unchanged(name):
    obj = load_object(build_bpf(BENCH / "programs" / f"{name}.bpf.c", BUILD / "bench",
                                ("-I", str(BENCH / "programs"))))
    prog = obj.programs[0]
    policy = default_tracing_policy(context_for(prog.attach.kind, prog.attach.function))
    result = verify_program(prog, obj, policy)
    assert (result.processed, result.max_instructions, result.states) == OBJECTS[name]
