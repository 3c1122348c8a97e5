"""The limiting kernels of the random feature maps against their definitions, E_w[f(w.x) f(w.y)],
by two-dimensional quadrature, at small and large input norms and at angles near 0 and pi.

With ``w ~ N(0, s^2 I)`` the pair ``(w.x, w.y)`` is ``(a xi_1, b (cos t xi_1 + sin t xi_2))``,
``a = s|x|``, ``b = s|y|``, t the angle between x and y and ``xi ~ N(0, I_2)``. In polar coordinates
``xi = r (cos phi, sin phi)`` the expectation is ``(1/2 pi) int dphi int r e^{-r^2/2} dr``; the
integrand has kinks or steep fronts where ``cos phi = 0`` or ``cos(phi - t) = 0``, so phi is split at
those four angles and each arc is graded towards its ends, r is graded towards 0 on the scale
``1 / max(a, b)``, and each piece gets Gauss-Legendre nodes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import erf

from randfeat import features as F
from randfeat.tasks import relu_nngp_kernel

NODES = 24


def _graded(lo: float, hi: float, h: float, both: bool) -> np.ndarray:
    """Breakpoints of [lo, hi], geometrically refined towards lo (and hi if ``both``) down to h."""
    length = hi - lo
    if length <= 0:
        return np.array([lo, hi])
    steps = [h * 2.0**j for j in range(60) if h * 2.0**j < (length / 2 if both else length)]
    pts = [lo] + [lo + s for s in steps]
    if both:
        pts += [hi - s for s in steps[::-1]]
    return np.unique(np.array(pts + [hi]))


def _gauss_legendre(breaks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, w = np.polynomial.legendre.leggauss(NODES)
    a, b = breaks[:-1, None], breaks[1:, None]
    return (0.5 * (b - a) * x + 0.5 * (a + b)).ravel(), (0.5 * (b - a) * w).ravel()


def pair_expectation(h, a: float, b: float, t: float) -> float:
    """E[h(u, v)] for (u, v) = (a xi_1, b (cos t xi_1 + sin t xi_2)), xi ~ N(0, I_2), by polar
    Gauss-Legendre quadrature (module docstring). ``h`` takes broadcast arrays u, v."""
    scale = 1.0 / max(a, b, 1.0)
    kinks = np.mod(np.array([0.5 * np.pi, 1.5 * np.pi, t + 0.5 * np.pi, t + 1.5 * np.pi]), 2 * np.pi)
    ends = np.unique(np.concatenate([[0.0, 2 * np.pi], kinks]))
    phi_breaks = np.unique(np.concatenate([_graded(lo, hi, 1e-3 * scale, True) for lo, hi in zip(ends[:-1], ends[1:])]))
    phi, w_phi = _gauss_legendre(phi_breaks)
    r, w_r = _gauss_legendre(_graded(0.0, 16.0, 1e-2 * scale, False))
    u = a * r[:, None] * np.cos(phi)[None, :]
    v = b * r[:, None] * np.cos(phi - t)[None, :]
    return float(np.einsum("i,j,ij->", w_r * r * np.exp(-0.5 * r**2), w_phi, h(u, v)) / (2 * np.pi))


def _pair(norm_x: float, norm_y: float, t: float, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """x = |x| e_1, y = |y| (cos t e_1 + sin t e_2), embedded in R^d."""
    x, y = np.zeros((1, d)), np.zeros((1, d))
    x[0, 0] = norm_x
    y[0, 0], y[0, 1] = norm_y * np.cos(t), norm_y * np.sin(t)
    return x, y


# (|x|, |y|, angle): small and large norms, generic angles, angles near 0 and near pi
GEOMETRY = [(1.0, 0.8, 1.1), (1e-3, 2e-3, 0.7), (30.0, 50.0, 2.0), (1.0, 1.0, 1e-4), (3.0, 0.5, 1e-2),
            (1.0, 1.0, np.pi - 1e-2), (2.0, 0.7, np.pi - 0.1), (20.0, 20.0, 5e-3), (1.0, 1.0, np.pi),
            (1e3, 1e3, 1e-3)]
IDS = [f"norms{p[0]:g},{p[1]:g}-angle{p[2]:.4g}" for p in GEOMETRY]


def _relu(u, v):
    return np.maximum(u, 0.0) * np.maximum(v, 0.0)


def test_quadrature_reproduces_gaussian_moments():
    """The quadrature itself: E[uv] = ab cos t and E[u^2 v^2] = a^2 b^2 (1 + 2 cos^2 t) (Isserlis), at
    a generic and at a large-norm geometry. Observed <= 1.6e-15 relative; tolerance 1e-14."""
    for a, b, t in [(1.0, 2.0, 0.3), (30.0, 50.0, 2.0)]:
        assert pair_expectation(lambda u, v: u * v, a, b, t) == pytest.approx(a * b * np.cos(t), rel=1e-14)
        assert pair_expectation(lambda u, v: u**2 * v**2, a, b, t) == pytest.approx(
            a * a * b * b * (1 + 2 * np.cos(t) ** 2), rel=1e-14)


@pytest.mark.parametrize(("norm_x", "norm_y", "angle"), GEOMETRY, ids=IDS)
def test_relu_nngp_kernel_against_quadrature(norm_x, norm_y, angle):
    """E[relu(w.x) relu(w.y)], w ~ N(0, I). Observed max relative error 4.4e-13 at angle pi - 1e-2
    (the kernel is ~d^3/3 there and cos t carries eps; it was 1.7e-9 before the bracket was
    evaluated in d = pi - t), <= 4e-14 elsewhere; tolerance 3e-12. At t = pi both are exactly 0."""
    x, y = _pair(norm_x, norm_y, angle)
    ref = pair_expectation(_relu, norm_x, norm_y, angle)
    got = float(relu_nngp_kernel(x, y)[0, 0])
    assert got == pytest.approx(ref, rel=3e-12, abs=1e-15 * norm_x * norm_y)


@pytest.mark.parametrize(("norm_x", "norm_y", "angle"), GEOMETRY, ids=IDS)
def test_erf_kernel_against_quadrature(norm_x, norm_y, angle):
    """E[erf(w.x) erf(w.y)], w ~ N(0, 1.3^2 I) (Williams 1997): linear at small norms, the arcsine of
    the sign kernel at large ones. Observed max relative error 1.5e-14; tolerance 1e-13."""
    std = 1.3
    x, y = _pair(norm_x, norm_y, angle)
    ref = pair_expectation(lambda u, v: erf(u) * erf(v), std * norm_x, std * norm_y, angle)
    assert float(F.erf_kernel(x, y, std=std)[0, 0]) == pytest.approx(ref, rel=1e-13)


@pytest.mark.parametrize(("norm_x", "norm_y", "angle"), [g for g in GEOMETRY if g[0] < 30.0 or g[2] < 0.1],
                         ids=[i for g, i in zip(GEOMETRY, IDS) if g[0] < 30.0 or g[2] < 0.1])
def test_rbf_kernel_is_the_random_fourier_feature_expectation(norm_x, norm_y, angle):
    """E_{w,b}[2 cos(w.x + b) cos(w.y + b)], w ~ N(0, I / l^2), b ~ U[0, 2 pi), l = 0.7: b by the
    trapezoid rule on 6 nodes (exact: the product is cos(u - v) plus a term of frequency 2 in b), w by
    the polar quadrature. Far-apart inputs at large norms (|x - y| / l ~ 100, kernel e^{-4700}) are
    left out: the integrand oscillates faster than the quadrature resolves. Observed max relative
    error 1.7e-13 (|x| = 1000, angle 1e-3, where |x - y|^2 = |x|^2 + |y|^2 - 2 x.y cancels: 2.1e-11
    before rbf_kernel centred its inputs); tolerance 1e-12."""
    lengthscale = 0.7
    x, y = _pair(norm_x, norm_y, angle)
    phases = 2 * np.pi * np.arange(6) / 6

    def product(u, v):
        return np.mean([2 * np.cos(u + b) * np.cos(v + b) for b in phases], axis=0)

    ref = pair_expectation(product, norm_x / lengthscale, norm_y / lengthscale, angle)
    assert float(F.rbf_kernel(x, y, lengthscale)[0, 0]) == pytest.approx(ref, rel=1e-12)
