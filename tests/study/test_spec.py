"""Study declarations: settings, axes and plans are validated before anything is computed."""

from __future__ import annotations

import pytest

import overparam.study as st


def _study(**kw):
    base = dict(name="t", sweeps={"s": st.Sweep(lambda c, k: {"y": c["x"]})},
                axes={"x": st.Axis((1.0, 2.0), paper=(1.0, 2.0, 4.0), low=0.0, low_open=True),
                      "k": st.Axis((1, 3), low=1, high=8, min_count=2), "seed": st.seeds(2, paper=5)},
                settings={"n": st.Setting(10, paper=50, low=2), "eta": st.Setting(0.1, low=0.0, high=1.0),
                          "mode": st.Setting("fast", choices=("fast", "exact"))})
    base.update(kw)
    return st.Study(**base)


def test_plan_takes_per_size_defaults_and_overrides():
    s = _study()
    q, p = s.plan("quick"), s.plan("paper")
    assert (q.n, q.eta, q.mode, q.axes["x"], q.axes["seed"]) == (10, 0.1, "fast", (1.0, 2.0), (0, 1))
    assert (p.n, p.axes["x"], p.axes["seed"]) == (50, (1.0, 2.0, 4.0), (0, 1, 2, 3, 4))
    o = s.plan("quick", {"n": "12", "eta": "0.5", "mode": "exact", "x": [4, 0.5], "k": [2, 8, 5]})
    assert (o.n, o.eta, o.mode) == (12, 0.5, "exact") and isinstance(o.n, int)
    assert o.axes["x"] == (0.5, 4.0) and o.axes["k"] == (2, 5, 8)  # sorted, typed
    assert o.grids["s"] == {"x": (0.5, 4.0), "k": (2, 5, 8), "seed": (0, 1)}


@pytest.mark.parametrize(("overrides", "fragment"), [
    ({"width": [1]}, "unknown axis or setting 'width'"),
    ({"x": [-1.0]}, "axis x value -1.0 is out of range; allowed: distinct numbers > 0"),
    ({"x": [0.0]}, "axis x value 0.0 is out of range"),
    ({"x": [1.0, 1.0]}, "repeats a value"),
    ({"x": [float("nan")]}, "must be a finite number"),
    ({"k": [3]}, "axis k has 1 value(s) (3,); allowed: at least 2 distinct integers >= 1 and <= 8"),
    ({"k": [1, 2.5]}, "axis k value 2.5 must be an integer"),
    ({"k": [1, 9]}, "axis k value 9 is out of range"),
    ({"seed": [-1]}, "axis seed value -1 is out of range"),
    ({"seed": [2**63]}, "axis seed value 9223372036854775808 is out of range"),
    ({"n": "1"}, "setting n=1 is out of range; allowed: an integer >= 2"),
    ({"n": "2.5"}, "setting n=2.5 must be an integer"),
    ({"n": "ten"}, "setting n='ten' is not a number"),
    ({"eta": "1.5"}, "setting eta=1.5 is out of range; allowed: a number >= 0 and <= 1"),
    ({"mode": "slow"}, "setting mode='slow' is not allowed; allowed: one of fast, exact"),
    ({"n": [3, 4]}, "setting n takes one value"),
])
def test_bad_values_name_the_axis_or_setting_and_what_is_allowed(overrides, fragment):
    with pytest.raises(ValueError) as info:
        _study().plan("quick", overrides)
    assert fragment in str(info.value)


def test_bad_size_and_declarations_are_refused():
    with pytest.raises(ValueError, match="size must be one of quick, paper, got 'huge'"):
        _study().plan("huge")
    with pytest.raises(ValueError, match="both axes and settings"):
        _study(settings={"x": st.Setting(1)})
    with pytest.raises(ValueError, match="names unknown axes"):
        _study(sweeps={"s": st.Sweep(lambda c, k: {}, axes=("zz",))})
    with pytest.raises(ValueError, match="dtype must be"):
        _study(dtype="float16")


def test_large_seeds_are_kept_whole():
    # seeds >= 2^32 must not be truncated on the way to the point function
    plan = _study().plan("quick", {"seed": [2**32 + 3, 10**12]})
    assert plan.axes["seed"] == (2**32 + 3, 10**12)


def test_fixed_axes_and_cross_checks():
    def check(setup):
        if max(setup.axes["k"]) > setup.n:
            raise ValueError(f"k={setup.axes['k']} must not exceed n={setup.n}")

    s = _study(sweeps={"a": st.Sweep(lambda c, k: {}), "b": st.Sweep(lambda c, k: {}, fixed={"x": min_x})},
               check=check)
    p = s.plan("quick")
    assert p.grids["b"]["x"] == (1.0,) and p.grids["a"]["x"] == (1.0, 2.0)
    with pytest.raises(ValueError, match="must not exceed n=2"):
        s.plan("quick", {"n": 2})


def min_x(setup):
    return min(setup.axes["x"])


def test_setup_is_hashable_and_immutable():
    a, b = _study().plan("quick"), _study().plan("quick")
    assert a == b and hash(a) == hash(b) and a != _study().plan("paper")
    with pytest.raises(AttributeError):
        a.n = 3
    with pytest.raises(AttributeError, match="no setting 'm'"):
        _ = a.m
