"""overparam.studies.base: merging --set overrides into a study's grid and checking integer axes."""

from __future__ import annotations

import pytest

from overparam.studies import registry
from overparam.studies.base import check_integers, merge_overrides

STUDIES = registry()


def test_merge_overrides_replaces_only_the_named_axes() -> None:
    axes = {"rank": [1, 3], "seed": range(2)}
    assert merge_overrides(axes, None) == {"rank": (1, 3), "seed": (0, 1)}
    assert merge_overrides(axes, {"seed": [5, 4]}) == {"rank": (1, 3), "seed": (5, 4)}
    assert axes == {"rank": [1, 3], "seed": range(2)}  # the study's own grid is left as it was
    with pytest.raises(ValueError, match="unknown axis 'width'; this study's axes are \\['rank', 'seed'\\]"):
        merge_overrides(axes, {"width": [2]})
    with pytest.raises(ValueError, match="axis 'rank' needs at least one value"):
        merge_overrides(axes, {"rank": []})


def test_check_integers_sorts_and_rejects_fractions_small_values_and_short_lists() -> None:
    assert check_integers("seed", (3.0, 0, 2)) == (0, 2, 3)
    assert all(isinstance(v, int) for v in check_integers("seed", (3.0, 1)))
    with pytest.raises(ValueError, match=r"seed=\(0, 1.5\) must hold at least 1 integer\(s\) >= 0"):
        check_integers("seed", (0, 1.5))
    with pytest.raises(ValueError, match="num_params"):
        check_integers("num_params", (0, 2), low=1)
    with pytest.raises(ValueError, match="at least 2"):
        check_integers("trial", (4,), min_count=2)


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_study_validates_its_own_grids_and_rejects_bad_values(name) -> None:
    """Both sizes' default grids pass the study's checks (a paper-size grid that a GPU run would
    only reject after hours is caught here); an out-of-range or unknown override is refused."""
    study = STUDIES[name]
    for size in ("quick", "paper"):
        grid = study.grid(size)
        assert list(grid) == list(study.axes(size))
        assert all(sorted(grid[a]) == sorted(study.axes(size)[a]) for a in grid)
    first = next(iter(study.axes("quick")))
    with pytest.raises(ValueError, match=first):
        study.grid("quick", {first: [-1]})
    with pytest.raises(ValueError, match="unknown axis 'no_such_axis'"):
        study.grid("quick", {"no_such_axis": [1]})
    with pytest.raises(ValueError, match="size must be one of"):
        study.grid("huge")
