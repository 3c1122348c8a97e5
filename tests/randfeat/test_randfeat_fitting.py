"""The fitting ratio, the interpolation threshold, measured exponents and the Gaussian RF samplers against
independent computations: continuum quadrature, a NumPy/brentq eigenframework, direct solves and the
direct construction of the model."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import brentq, minimize_scalar

from randfeat import fitting, powerlaw, spectra
from randfeat.experiment import gaussian_rf_columns, gaussian_rf_data, gaussian_rf_rows, ridge_path_samples
from randfeat.features import gaussian_projection, linear_features, rbf_kernel
from randfeat.ridge import ridge_path
from randfeat.tasks import Task, make_task, power_law_task, relu_nngp_kernel

# ----------------------------------------------------------------------------- closed form


@given(alpha=st.floats(1.3, 4.0), ratio=st.floats(0.35, 0.95))
def test_closed_form_at_zero_noise_is_the_papers_ratio(alpha, ratio):
    """s = 0 gives R* = ((alpha - beta)/(beta (alpha - 1)))^2 for beta < alpha (the paper's Sec. 5 form, an
    independent formula in randfeat.powerlaw); observed agreement to 2e-16."""
    beta = max(1.05, ratio * alpha)
    assert powerlaw.optimal_fitting_ratio_at_noise(alpha, beta, 0.0) == pytest.approx(
        powerlaw.optimal_fitting_ratio(alpha, beta), rel=1e-12, abs=1e-15)


@given(alpha=st.floats(1.3, 4.0), gap=st.floats(0.1, 2.0))
def test_closed_form_is_zero_exactly_below_the_threshold(alpha, gap):
    """beta > alpha: R* = 0 up to (beta - alpha)/(alpha (alpha - 1)) and > 0 beyond it."""
    beta = alpha + gap
    thr = powerlaw.overfitting_threshold(alpha, beta)
    assert powerlaw.optimal_fitting_ratio_at_noise(alpha, beta, 0.999 * thr) == 0.0
    assert powerlaw.optimal_fitting_ratio_at_noise(alpha, beta, 1.001 * thr) > 0.0


def _continuum_ratio(alpha: float, beta: float, s: float, n: float = 1000.0) -> float:
    """R* from the eigenframework with its sums replaced by integrals over i in (0, inf), minimised
    numerically over gamma (no use of the closed-form algebra). With i = gamma^(-1/alpha) x the
    integrals are gamma-free constants times powers of gamma, each computed once by quadrature."""
    def integral(f):
        return quad(f, 0.0, 1.0, limit=200)[0] + quad(f, 1.0, np.inf, limit=200)[0]

    z1 = integral(lambda x: 1.0 / (1.0 + x**alpha))
    q1 = integral(lambda x: 1.0 / (1.0 + x**alpha) ** 2)
    b1 = integral(lambda x: (x**alpha / (1.0 + x**alpha)) ** 2 * x ** (-beta))

    def sums(lg):  # z, q, bias at gamma = exp(lg)
        return z1 * math.exp(-lg / alpha), q1 * math.exp(-lg / alpha), b1 * math.exp(lg * (beta - 1.0) / alpha)

    lg_min = -alpha * math.log(n / z1)  # z = n: the ridgeless point
    z0, q0, b0 = sums(lg_min)
    noise = s * n / (n - q0) * b0  # s times the ridgeless noiseless risk

    def risk(lg):
        z, q, b = sums(lg)
        return n / (n - q) * (b + noise)

    best = minimize_scalar(risk, bounds=(lg_min, lg_min + 12.0), method="bounded", options={"xatol": 1e-10})
    lg = best.x if best.fun < risk(lg_min) else lg_min
    return (1.0 - sums(lg)[0] / n) ** 2


@pytest.mark.parametrize(("alpha", "beta", "s"), [(3.0, 2.0, 0.0), (3.0, 2.0, 1.0), (2.0, 3.0, 1.0), (2.5, 3.5, 0.5),
                                                  (2.0, 1.5, 2.0)])
def test_closed_form_matches_the_continuum_eigenframework_by_quadrature(alpha, beta, s):
    """The closed form against a quadrature of the continuum sums minimised over gamma. The continuum
    is exactly scale-free, so n drops out; observed difference <= 3e-8 (the bounded minimiser's
    tolerance in log gamma); tolerance 1e-6."""
    assert powerlaw.optimal_fitting_ratio_at_noise(alpha, beta, s) == pytest.approx(
        _continuum_ratio(alpha, beta, s), abs=1e-6)


def test_learned_fraction_root_and_its_bad_input():
    t = powerlaw.optimal_learned_fraction(2.0, 3.0, 1.0)
    assert (2.0 - 1.0) * 3.0 * t + (2.0 - 1.0) * 2.0 * 1.0 * t**3 == pytest.approx(2.0 * (3.0 - 1.0), rel=1e-13)
    assert powerlaw.optimal_learned_fraction(2.0, 3.0, 0.1) == 1.0
    with pytest.raises(ValueError, match="beta = 6.0"):
        powerlaw.optimal_fitting_ratio_at_noise(2.0, 6.0, 0.0)
    with pytest.raises(ValueError, match="relative_noise = -1.0"):
        powerlaw.optimal_fitting_ratio_at_noise(2.0, 3.0, -1.0)
    with pytest.raises(ValueError, match="alpha = 1.0"):
        powerlaw.optimal_learned_fraction(1.0, 1.5, 0.0)

# ----------------------------------------------------------------------------- discrete eigenframework


def _numpy_krr(lam, v2, noise, n, ridge):
    """KRR eigenframework in NumPy with brentq: (E_te, E_tr); an implementation independent of randfeat.theory."""
    def z_of(g):
        return np.sum(lam / (lam + g))

    if ridge == 0.0:
        g = brentq(lambda lg: z_of(math.exp(lg)) - n, -80.0, 10.0, xtol=1e-14)
    else:
        g = brentq(lambda lg: math.exp(lg) * (1.0 - z_of(math.exp(lg)) / n) - ridge / n, -80.0, 10.0, xtol=1e-14)
    g = math.exp(g)
    ell = lam / (lam + g)
    z, q = ell.sum(), (ell**2).sum()
    test = n / (n - q) * (np.sum((1 - ell) ** 2 * v2) + noise)
    return test, (1 - z / n) ** 2 * test


def test_fitting_ratio_matches_a_numpy_eigenframework_minimised_by_scipy():
    """R* on a small task (M = 300, n = 40) against brentq roots and scipy's bounded minimiser over log
    ridge; observed |difference| <= 2e-9 in R* and 4e-13 relative in E_te; tolerances 1e-7 and 1e-9."""
    task = power_law_task(300, 1.8, 1.4)
    lam, v2 = np.asarray(task.eigenvalues), np.asarray(task.coefficients) ** 2
    n, rel = 40.0, np.array([0.0, 0.3, 1.5])
    got = fitting.fitting_ratio(task, n, rel)
    clean = _numpy_krr(lam, v2, 0.0, n, 0.0)[0]
    assert float(got.clean_risk) == pytest.approx(clean, rel=1e-11)
    for i, s in enumerate(rel):
        noise = s * clean
        best = minimize_scalar(lambda lr: _numpy_krr(lam, v2, noise, n, math.exp(lr))[0], bounds=(-25.0, 5.0),
                               method="bounded", options={"xatol": 1e-9})
        test, train = _numpy_krr(lam, v2, noise, n, math.exp(best.x))
        assert float(got.noise[i]) == pytest.approx(noise, rel=1e-12)
        assert float(got.test[i]) == pytest.approx(test, rel=1e-9)
        assert float(got.ratio[i]) == pytest.approx(train / test, abs=1e-7)


def test_fitting_ratio_of_a_power_law_extrapolates_to_the_closed_form():
    """Richardson in n (50, 100) and in the mode count (6250, 25000; error ~ M^-(min(alpha, beta) - 1),
    docs/randfeat.md#finite-size-corrections) takes R* to the continuum: observed |error| <= 7e-6;
    without the mode extrapolation it is 1.2e-3 (alpha = 3, beta = 2). Tolerance 5e-5."""
    alpha, beta, rel = 3.0, 2.0, np.array([0.0, 1.0])
    r = {(m, n): np.asarray(fitting.fitting_ratio(power_law_task(m, alpha, beta), float(n), rel).ratio)
         for m in (6250, 25_000) for n in (50, 100)}
    in_n = {m: 2.0 * r[(m, 100)] - r[(m, 50)] for m in (6250, 25_000)}
    limit = in_n[25_000] + (in_n[25_000] - in_n[6250]) / (4.0 ** (min(alpha, beta) - 1.0) - 1.0)
    closed = np.array([powerlaw.optimal_fitting_ratio_at_noise(alpha, beta, s) for s in rel])
    np.testing.assert_allclose(limit, closed, atol=5e-5)
    assert np.max(np.abs(in_n[25_000] - closed)) > 5e-4  # the mode count matters at this precision
    lib = fitting.power_law_limit(alpha, beta, rel, 50, 25_000, levels=2)  # the same steps in the library
    assert lib.modes == (6250, 25_000) and lib.exponent == 1.0
    np.testing.assert_allclose(lib.ratio_grid, [[r[(m, n)] for m in (6250, 25_000)] for n in (50, 100)], rtol=1e-12)
    np.testing.assert_allclose(lib.ratio_in_n, [in_n[6250], in_n[25_000]], rtol=1e-12)
    np.testing.assert_allclose(lib.ratio, limit, rtol=1e-12)


def test_interpolation_threshold_extrapolates_to_the_closed_form():
    """The derivative-based threshold at n = 50, 100 and M = 6250, 25000, extrapolated as above, against
    (beta - alpha)/(alpha (alpha - 1)): observed relative error 1.0e-4 (alpha = 2, beta = 3) and 4e-6
    (alpha = 2.5, beta = 3.5); tolerance 1e-3."""
    for alpha, beta in ((2.0, 3.0), (2.5, 3.5)):
        t = {(m, n): float(fitting.interpolation_threshold(power_law_task(m, alpha, beta), float(n)))
             for m in (6250, 25_000) for n in (50, 100)}
        in_n = {m: 2.0 * t[(m, 100)] - t[(m, 50)] for m in (6250, 25_000)}
        limit = in_n[25_000] + (in_n[25_000] - in_n[6250]) / (4.0 ** (min(alpha, beta) - 1.0) - 1.0)
        assert limit == pytest.approx(powerlaw.overfitting_threshold(alpha, beta), rel=1e-3)
        lib = fitting.power_law_limit(alpha, beta, 0.0, 50, 25_000, levels=2)
        np.testing.assert_allclose(lib.threshold_grid, [[t[(m, n)] for m in (6250, 25_000)] for n in (50, 100)],
                                   rtol=1e-12)
        assert float(lib.threshold) == pytest.approx(limit, rel=1e-12)


def test_interpolation_threshold_is_where_the_slope_at_zero_ridge_changes_sign():
    """On a small task the NumPy eigenframework's E_te(h) - E_te(0) (h = 1e-7) is negative 1% above the
    threshold noise and positive 1% below it."""
    task = power_law_task(300, 1.5, 2.5)
    lam, v2 = np.asarray(task.eigenvalues), np.asarray(task.coefficients) ** 2
    n = 30.0
    s_star = float(fitting.interpolation_threshold(task, n))
    clean = _numpy_krr(lam, v2, 0.0, n, 0.0)[0]
    assert s_star > 0
    for factor, sign in ((0.99, 1.0), (1.01, -1.0)):
        noise = factor * s_star * clean
        slope = _numpy_krr(lam, v2, noise, n, 1e-7)[0] - _numpy_krr(lam, v2, noise, n, 0.0)[0]
        assert sign * slope > 0


def test_fitting_bad_input():
    task = power_law_task(100, 2.0, 2.0)
    with pytest.raises(ValueError, match="relative_noise"):
        fitting.fitting_ratio(task, 10.0, [-0.1])
    with pytest.raises(ValueError, match="n = 0.5"):
        fitting.fitting_ratio(task, 0.5, [0.0])
    with pytest.raises(ValueError, match="scalars"):
        fitting.fitting_ratio(task, [10.0, 20.0], [0.0])
    with pytest.raises(ValueError, match="step"):
        fitting.interpolation_threshold(task, 10.0, step=0.0)

# ----------------------------------------------------------------------------- measured exponents


def test_power_law_limit_bad_input():
    for kw, match in ((dict(alpha=1.0, beta=2.0), "both above 1"), (dict(modes=1000), "multiple of 4"),
                      (dict(levels=1), "levels"), (dict(n=0), "n=0")):
        args = dict(alpha=3.0, beta=2.0, relative_noise=0.0, n=10, modes=1024) | kw
        with pytest.raises(ValueError, match=match):
            fitting.power_law_limit(**args)


def test_measured_fitting_ratio_is_a_loop_at_the_best_ridge():
    rng = np.random.default_rng(5)
    train, test = rng.uniform(0.1, 1.0, (2, 12, 3, 7))  # (trials, cases, ridges)
    got = fitting.measured_fitting_ratio(train, test)
    for c in range(3):
        j = int(np.argmin(test[:, c].mean(0)))
        tr, te = train[:, c, j], test[:, c, j]
        u = tr / tr.mean() - te / te.mean()
        assert got.ridge_index[c] == j
        assert got.ratio[c] == pytest.approx(tr.mean() / te.mean(), rel=1e-14)
        assert got.sem[c] == pytest.approx(tr.mean() / te.mean() * u.std(ddof=1) / math.sqrt(12), rel=1e-12)
    with pytest.raises(ValueError, match="T >= 2"):
        fitting.measured_fitting_ratio(train[:1], test[:1])


def test_measured_fitting_ratio_standard_error_is_the_spread_over_repeated_experiments():
    """4000 experiments of 40 trials with correlated (E_tr, E_te): the delta-method s.e. against the
    standard deviation of R over the experiments. Relative s.e. of that deviation: 1/sqrt(2 * 4000) = 1.1%;
    tolerance 3.5%, three of those (seen -0.4% to 0.1% over three seeds; the delta method's bias is O(1/T))."""
    rng = np.random.default_rng(11)
    z = rng.standard_normal((2, 4000, 40))
    test = 1.0 + 0.2 * z[0]
    train = 0.3 + 0.1 * (0.6 * z[0] + 0.8 * z[1])
    got = fitting.measured_fitting_ratio(train.T[..., None], test.T[..., None])  # one ridge
    assert float(np.mean(got.sem)) == pytest.approx(float(np.std(got.ratio, ddof=1)), rel=0.035)


def test_power_law_fit_recovers_an_exact_power_law_and_reports_its_residual():
    i = np.arange(1, 501, dtype=float)
    fit = spectra.power_law_fit(3.0 * i**-1.7, 5, 400)
    assert fit.exponent == pytest.approx(1.7, rel=1e-12) and fit.prefactor == pytest.approx(3.0, rel=1e-11)
    assert fit.rms < 1e-12
    wiggle = spectra.power_law_fit(i**-1.7 * np.exp(0.1 * np.cos(i)), 5, 400)
    assert wiggle.rms == pytest.approx(0.1 / math.sqrt(2), rel=0.05)  # rms of 0.1 cos(i) is 0.0707


def test_task_exponents_of_a_power_law_task():
    """alpha exactly; beta from the tail sum T_i = zeta(beta, i) ~ i^(1-beta)/(beta - 1) + i^-beta / 2, whose
    second term biases the fitted exponent by about 1 / (2 i) at beta = 2: observed +0.0019 over modes
    100..1000 of 10^6 (the truncation at M biases T_i by -M^(1-beta)/(beta-1) too: +0.023 with 2e4 modes);
    tolerance 0.005."""
    ex = spectra.task_exponents(power_law_task(1_000_000, 1.6, 2.0), 100, 1000)
    assert ex.alpha.exponent == pytest.approx(1.6, rel=1e-12)
    assert ex.beta.exponent == pytest.approx(2.0, abs=0.005)


def test_kernel_features_give_the_kernel_and_kernel_ridge_regression():
    """F F^T = K (observed 3e-16), and ridge paths on rows of F equal (K_tr + delta I)^{-1} y by solve (observed 1e-13)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 5))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = rng.normal(size=60)
    for kernel in (relu_nngp_kernel, lambda a, b: rbf_kernel(a, b, 0.7)):
        k = np.asarray(kernel(jnp.asarray(x), jnp.asarray(x)))
        f = np.asarray(spectra.kernel_features(x, kernel))
        np.testing.assert_allclose(f @ f.T, k, atol=1e-13)
        tr = np.arange(25)
        ridges = np.array([1e-3, 1e-1])
        path = ridge_path(jnp.asarray(f[tr]), jnp.asarray(y[tr]), jnp.asarray(f), jnp.asarray(y), jnp.asarray(ridges))
        for j, r in enumerate(ridges):
            a = np.linalg.solve(k[np.ix_(tr, tr)] + r * np.eye(tr.size), y[tr])
            assert float(path.test_mse[j]) == pytest.approx(np.mean((k[:, tr] @ a - y) ** 2), rel=1e-9)
            assert float(path.train_mse[j]) == pytest.approx(np.mean((k[np.ix_(tr, tr)] @ a - y[tr]) ** 2), rel=1e-9)


def test_spectra_bad_input():
    with pytest.raises(ValueError, match="hi = 10"):
        spectra.power_law_fit(np.ones(5) * 0.5, 1, 10)
    with pytest.raises(ValueError, match="lo = 0"):
        spectra.power_law_fit(np.ones(5), 0, 4)
    with pytest.raises(ValueError, match="values"):
        spectra.power_law_fit(-np.ones(10), 1, 5)
    with pytest.raises(ValueError, match="x has shape"):
        spectra.kernel_features(np.ones(4), relu_nngp_kernel)

# ----------------------------------------------------------------------------- samplers and nested samples


def _statistics(phi, y):
    """Per draw: phi_11^2, (phi_1 . phi_2)^2, (sum_r phi_r1 y_r)^2, y_1^2, phi_11^2 phi_21^2 (rows share A)."""
    return jnp.stack([phi[0, 0] ** 2, (phi[0] @ phi[1]) ** 2, (phi[:, 0] @ y) ** 2, y[0] ** 2,
                      phi[0, 0] ** 2 * phi[1, 0] ** 2])


def _direct(key, task, n_rows, k):
    kx, kp, ke = jax.random.split(key, 3)
    x = jax.random.normal(kx, (n_rows, task.eigenvalues.shape[0]))
    phi = linear_features(gaussian_projection(kp, task, k), x)
    return phi, x @ task.coefficients + jnp.sqrt(task.noise) * jax.random.normal(ke, (n_rows,))


@pytest.mark.parametrize("sampler", [gaussian_rf_rows, gaussian_rf_columns])
def test_samplers_draw_the_law_of_the_direct_construction(sampler):
    """Means of five statistics (second and fourth order, across rows and columns) over 40000 draws
    against 40000 draws of X A^T with A from gaussian_projection: |z| <= 4.5 (observed <= 2.6). A
    sampler that drew rows independently of a common A, or forgot 1/sqrt(k), is off by > 30 s.e."""
    task = make_task(np.array([1.0, 0.6, 0.3, 0.1, 0.05, 0.02]), np.array([0.9, -0.5, 0.4, 0.3, -0.2, 0.1]), 0.3)
    draws = 40_000
    keys = jax.random.split(jax.random.key(7), draws)
    stat = jax.jit(jax.vmap(lambda kk: _statistics(*sampler(kk, task, 4, 3))))(keys)
    ref = jax.jit(jax.vmap(lambda kk: _statistics(*_direct(kk, task, 4, 3))))(jax.random.split(jax.random.key(8), draws))
    z = (stat.mean(0) - ref.mean(0)) / jnp.sqrt((stat.var(0) + ref.var(0)) / draws)
    assert np.all(np.abs(np.asarray(z)) <= 4.5), np.asarray(z)


def test_gaussian_rf_data_takes_the_cheaper_sampler():
    task = power_law_task(50, 1.5, 1.5, 0.5)
    key = jax.random.key(3)
    for n_rows, k, pick in ((40, 5, gaussian_rf_rows), (5, 40, gaussian_rf_columns)):
        got, expect = gaussian_rf_data(key, task, n_rows, k), pick(key, task, n_rows, k)
        np.testing.assert_array_equal(np.asarray(got[0]), np.asarray(expect[0]))
        assert got[0].shape == (n_rows, k) and got[1].shape == (n_rows,)
    with pytest.raises(ValueError, match="n_rows = 0"):
        gaussian_rf_rows(key, task, 0, 3)


def test_ridge_path_samples_against_direct_solves_on_prefixes():
    """Each sample size n is ridge regression on the first n rows (solve of the normal equations; observed 1e-14)."""
    rng = np.random.default_rng(1)
    phi, y = rng.normal(size=(30, 8)), rng.normal(size=30)
    pt, yt = rng.normal(size=(12, 8)), rng.normal(size=12)
    ridges = np.array([1e-2, 1.0])
    path = ridge_path_samples(*(jnp.asarray(a) for a in (phi, y, pt, yt, ridges)), samples=(4, 8, 30))
    assert path.test_mse.shape == (3, 2)
    for i, n in enumerate((4, 8, 30)):
        for j, r in enumerate(ridges):
            w = np.linalg.solve(phi[:n].T @ phi[:n] + r * np.eye(8), phi[:n].T @ y[:n])
            assert float(path.test_mse[i, j]) == pytest.approx(np.mean((pt @ w - yt) ** 2), rel=1e-9)
            assert float(path.train_mse[i, j]) == pytest.approx(np.mean((phi[:n] @ w - y[:n]) ** 2), rel=1e-9)
    for bad in ((4, 4), (0, 3), (5, 31)):
        with pytest.raises(ValueError, match="samples"):
            ridge_path_samples(*(jnp.asarray(a) for a in (phi, y, pt, yt, ridges)), samples=bad)


def test_task_noise_is_ignored_by_fitting_ratio():
    """The relative noise sets sigma^2; the task's own noise does not enter."""
    base = power_law_task(200, 2.0, 1.5)
    noisy = Task(base.eigenvalues, base.coefficients, jnp.asarray(0.7))
    a, b = fitting.fitting_ratio(base, 20.0, [0.5]), fitting.fitting_ratio(noisy, 20.0, [0.5])
    np.testing.assert_array_equal(np.asarray(a.ratio), np.asarray(b.ratio))


@given(limit=st.floats(-1.0, 1.0), a=st.floats(-5.0, 5.0), b=st.floats(-5.0, 5.0), p=st.floats(0.3, 3.0))
def test_continuum_limit_removes_a_1_over_n_and_a_mode_power_exactly(limit, a, b, p):
    """v(n, M) = L + a/n + b M^-p at n, 2n and M/16, M/4, M gives back L: both corrections cancel exactly."""
    n, modes = 50.0, np.array([1000.0, 4000.0, 16000.0])
    v = np.array([[limit + a / s + b * m**-p for m in modes] for s in (n, 2 * n)])
    got, in_n = fitting.continuum_limit(v, p)
    assert got == pytest.approx(limit, abs=1e-12)
    np.testing.assert_allclose(in_n, limit + b * modes**-p, atol=1e-13)
    truncation = abs(b) * modes[-1] ** -p
    if truncation > 1e-10:  # a mode ratio of 3 instead of 4 leaves over 10% of the truncation
        wrong = in_n[-1] + (in_n[-1] - in_n[-2]) / (3.0**p - 1.0)
        assert abs(wrong - limit) > 0.1 * truncation


def test_continuum_limit_broadcasts_and_refuses_bad_shapes():
    v = np.stack([np.full((2, 3), 1.0), np.full((2, 3), 2.0)])  # (pair, n, modes)
    got, _ = fitting.continuum_limit(v, np.array([1.0, 2.0]))
    np.testing.assert_allclose(got, [1.0, 2.0], rtol=1e-15)
    with pytest.raises(ValueError, match="values has shape"):
        fitting.continuum_limit(np.ones((3, 3)), 1.0)
    with pytest.raises(ValueError, match="exponent"):
        fitting.continuum_limit(np.ones((2, 3)), 0.0)
