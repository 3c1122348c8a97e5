"""Advani & Saxe study: the Marchenko-Pastur theory against closed-form limits, the exact gradient flow
against a matrix exponential, and a tiny end-to-end run whose claims are checked by value."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given
from hypothesis import strategies as st

from overparam.studies import advani_saxe as study

LOADS = st.one_of(st.floats(0.2, 0.6), st.floats(1.6, 4.0))
VARS = st.floats(0.0, 2.0)


@given(load=LOADS, weight_var=VARS, noise_var=VARS)
def test_theory_limits(load, weight_var, noise_var):
    """E_g(0) = s_w^2 + s_eps^2; E_g(inf) = s_w^2 (1 - a)_+ + s_eps^2 (1 + E_rho[1/l]) with
    E_rho[1/l] = a/(1 - a) below load 1 and 1/(a - 1) above; E_t(inf) = s_eps^2 (1 - 1/a)_+."""
    c = study.theory_curves(load, np.array([0.0, 1e5]), weight_var, 0.0, noise_var)
    assert c.generalization[0] == pytest.approx(weight_var + noise_var, rel=1e-10, abs=1e-12)
    assert c.training[0] == pytest.approx(weight_var + noise_var, rel=1e-10, abs=1e-12)
    inv = load / (1 - load) if load < 1 else 1 / (load - 1)
    expect = weight_var * max(0.0, 1 - load) + noise_var * (1 + inv)
    assert c.generalization[1] == pytest.approx(expect, rel=1e-8, abs=1e-12)
    assert c.training[1] == pytest.approx(noise_var * max(0.0, 1 - 1 / load), rel=1e-8, abs=1e-12)


@pytest.fixture(scope="module")
def flow():
    return jax.jit(study.gradient_flow_errors)


@given(seed=st.integers(0, 2**16), t=st.floats(0.01, 20.0))
def test_gradient_flow_matches_matrix_exponential(flow, seed, t):
    """Exact flow in the eigenbasis == w* + expm(-A t)(w0 - w*) for a full-rank design (P > N)."""
    n, p = 12, 20
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(p + 4, n)) / np.sqrt(n)
    mask = (np.arange(p + 4) < p).astype(float)
    w_bar, w0 = rng.normal(size=n), 0.3 * rng.normal(size=n)
    y = x @ w_bar + 0.5 * rng.normal(size=p + 4)
    gen, train = flow(jnp.asarray(x), jnp.asarray(y), jnp.asarray(w_bar), jnp.asarray(w0), jnp.asarray(mask),
                      jnp.asarray([t]), 0.25)
    xa, ya = x[:p], y[:p]
    a = xa.T @ xa
    w_star = np.linalg.solve(a, xa.T @ ya)
    w_t = w_star + scipy.linalg.expm(-a * t) @ (w0 - w_star)
    assert float(gen[0]) == pytest.approx(np.sum((w_t - w_bar) ** 2) / n + 0.25, rel=1e-9)
    assert float(train[0]) == pytest.approx(np.sum((ya - xa @ w_t) ** 2) / p, rel=1e-8, abs=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="load"):
        study.theory_curves(-1.0, np.ones(3), 1.0, 0.0, 0.1)
    with pytest.raises(ValueError, match="noise_var"):
        study.theory_curves(1.0, np.ones(3), 1.0, 0.0, -0.1)
    with pytest.raises(ValueError, match="load"):
        study.run_sweep("quick", {"load": (0.0, 1.0)})
    with pytest.raises(ValueError, match="size"):
        study.run_sweep("huge")


def test_tiny_run(tmp_path, monkeypatch):
    """The public run at a tiny size writes claims, figures and data; the claims hold by value."""
    tiny = study.SETUPS["quick"]._replace(n_inputs=200, n_times=12, t_max=50.0,
                                          axes={"load": (0.5, 1.0, 2.0), "seed": tuple(range(6))})
    monkeypatch.setitem(study.SETUPS, "quick", tiny)
    result = study.STUDY.run(size="quick", out=tmp_path, progress=False)
    claims = json.loads((tmp_path / "claims.json").read_text())
    assert [c["passed"] for c in claims] == [True, True]
    assert "simulation a = 1, theory a = 1" in claims[0]["measured"]
    assert all(p.exists() for p in result.figures) and {p.suffix for p in result.figures} == {".png", ".svg"}
    import xarray as xr

    ds = xr.open_dataset(result.datasets[0])
    rel = np.abs(ds["test_error"].mean("seed") / ds["theory_test_error"] - 1)
    assert float(np.median(rel)) < 0.02  # the seed mean tracks the theory at N = 200
    over = study.overtraining(ds["theory_test_error"].values)
    assert over[1] > 5 * max(over[0], over[2])  # a = 1 grows like sqrt(t); the others saturate
