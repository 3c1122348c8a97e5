"""Claims are numbers: pass/fail is computed from measured, comparison and bound; NaN never passes."""

from __future__ import annotations

import math

import pytest

import overparam.study as st
from overparam.study import claims as claims_mod


@pytest.mark.parametrize(("measured", "comparison", "bound", "passed"), [
    (0.5, "in", (0.4, 0.65), True), (0.4, "in", (0.4, 0.65), True), (0.66, "in", (0.4, 0.65), False),
    (1e-10, "<", 1e-9, True), (1e-9, "<", 1e-9, False), (1e-9, "<=", 1e-9, True),
    (3.0, ">", 2.0, True), (2.0, ">=", 2.0, True), (1.9, ">=", 2.0, False),
    (True, "==", True, True), (False, "==", True, False),
    ([1.0, 2.0, 3.0], "<=", 3.0, True), ([1.0, 2.0, 3.1], "<=", 3.0, False),
    (math.nan, "<=", 1.0, False), (math.nan, ">", 1.0, False), ([1.0, math.nan], "in", (0, 2), False),
    (1.0, "<=", math.nan, False),
])
def test_passed_is_computed_from_the_numbers(measured, comparison, bound, passed):
    assert st.Claim("c", "s", measured, comparison, bound).passed is passed


def test_bad_claims_are_refused():
    with pytest.raises(ValueError, match="comparison must be one of"):
        st.Claim("c", "s", 1.0, "~", 1.0)
    with pytest.raises(ValueError, match="needs bound = \\(low, high\\)"):
        st.Claim("c", "s", 1.0, "in", (2.0, 1.0))
    with pytest.raises(ValueError, match="must be numbers"):
        st.Claim("c", "s", "big", "<", 1.0)
    with pytest.raises(ValueError, match="2 labels for 3"):
        st.Claim("c", "s", [1, 2, 3], "<", 5, labels=("a", "b"))


def test_json_round_trip_keeps_numbers_and_result(tmp_path):
    claims = [claims_mod.ClaimResult("s", "P", st.Claim("a", "x", [0.5, math.nan], "in", (0, 1), unit="steps",
                                                        labels=("k=1", "k=2"))),
              claims_mod.ClaimResult("s", "P", st.Claim("b", "y", math.inf, ">", 1.0)),
              claims_mod.ClaimResult("s", "P", st.Claim("c", "z", True, "==", True))]
    (tmp_path / "claims.json").write_text(claims_mod.dumps(claims))
    back = claims_mod.read(tmp_path)
    assert [c.passed for c in back] == [False, True, True]
    assert math.isnan(back[0].claim.measured[1]) and back[0].claim.measured[0] == 0.5
    assert back[1].claim.measured == (math.inf,) and back[0].claim.bound == (0.0, 1.0)
    assert back[0].claim.measured_text() == "0.5 (k=1), nan (k=2) steps"
    assert back[0].claim.expected_text() == "in [0, 1] steps"
