"""Formula bugs planted in ``sensing/``, one at a time, by ``python -m tests.mutation.run --area sensing``."""

from __future__ import annotations

from tests.mutation.mutation import Mutation

MUTATIONS: list[Mutation] = [
    Mutation(
        name="scaled_gd_swapped_preconditioners",
        file="sensing/algorithms.py",
        old="return f - eta * _right_solve(gf, gg, damping), gg - eta * _right_solve(gg_, f, damping)",
        new="return f - eta * _right_solve(gf, f, damping), gg - eta * _right_solve(gg_, gg, damping)",
        tests=("tests/sensing",),
        kind="swap",
    ),
]
