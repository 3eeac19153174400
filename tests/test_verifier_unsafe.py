"""Every program of the unsafe catalogue is rejected, for the reason its file states."""
from __future__ import annotations

import pytest

from bpftime.errors import VerifyError
from bpftime.verifier import verify
from verifier_catalogue import cases, load_case


def test_catalogue_is_large_enough():
    assert len(cases()) >= 40


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
