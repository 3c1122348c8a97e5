"""``overparam.falsify``: search a conjecture for counterexamples at vmap speed.

A conjecture is a margin, ``margin(params) -> scalar``, pure and jittable, ``>= 0`` where it
holds; a space declares each parameter (:class:`Real`, :class:`Integer`, :class:`Choice`).
:func:`falsify` runs a scrambled Sobol design, gradient and neighbour refinement from the worst
points and hypothesis-style shrinking, every stage a chunked, vmapped sweep of
:func:`overparam.sweep.run`, and returns a :class:`Result` (data). :func:`check` does the same
inside a test and fails with the shrunk counterexample. :mod:`overparam.falsify.gallery` holds
conjectures from the three research areas, true and false.
"""

from overparam.falsify.result import Histogram, NonFinite, Result
from overparam.falsify.search import complexity, falsify
from overparam.falsify.space import Box, Choice, Integer, Real, make_box
from overparam.falsify.testing import check, holds, space_from

__all__ = ["Box", "Choice", "Histogram", "Integer", "NonFinite", "Real", "Result", "check", "complexity", "falsify",
           "holds", "make_box", "space_from"]
