"""Every program of the unsafe catalogue is rejected, for the reason its file states."""
from __future__ import annotations

import pytest

from bpftime.elf import load_object
from bpftime.errors import VerifyError
from bpftime.verifier import default_tracing_policy, verify, verify_program
from conftest import BUILD, build_bpf
from verifier_catalogue import c_cases, cases, load_case


def test_catalogue_is_large_enough():
    assert len(cases()) + len(c_cases()) >= 40


@pytest.mark.parametrize("path", cases(), ids=lambda p: p.stem)
def test_unsafe_program_is_rejected_for_its_reason(path):
    case = load_case(path)
    assert case.reason, f"{path.name} states no reason"
    with pytest.raises(VerifyError) as info:
        verify(case.insns, maps=case.maps, policy=case.policy, externs=case.externs,
               name=path.stem, budget=case.budget)
    message = str(info.value)
    assert case.reason in message
    assert "\n" not in message
    assert message.startswith(path.stem + ":")


@pytest.mark.parametrize("path", c_cases(), ids=lambda p: p.name.removesuffix(".bpf.c"))
def test_unsafe_c_program_is_rejected_for_its_reason(path):
    first = path.read_text().splitlines()[0]
    assert first.startswith("// reason: "), f"{path.name} states no reason"
    obj = load_object(build_bpf(path, BUILD / "unsafe"))
    prog = obj.programs[0]
    # the unbounded loop exhausts any budget; a small one keeps the test quick
    with pytest.raises(VerifyError) as info:
        verify_program(prog, obj, default_tracing_policy(), budget=30_000)
    message = str(info.value)
    assert first.removeprefix("// reason: ") in message
    assert path.name in message   # the source line from BTF line info
