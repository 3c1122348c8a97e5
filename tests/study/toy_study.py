"""A small user study for the tests: GD on a random least-squares problem per run.

Settings: ``n`` (unknowns), ``steps``; axes: ``eta`` (step size), ``seed``. Outputs: the loss after
every step and the final loss. The claim "the final loss is below ``tol``" fails when ``tol`` is set
below what GD reaches, which the tests use to make a regression.
"""

import jax
import jax.numpy as jnp

import overparam.study as st
from overparam.sweep import seed_key


def point(config, key, setup):
    ka, kb = jax.random.split(seed_key(jax.random.key(7), config["seed"]))
    a = jax.random.normal(ka, (2 * setup.n, setup.n)) / jnp.sqrt(2.0 * setup.n)
    b = jax.random.normal(kb, (2 * setup.n,))

    def body(x, _):
        x = x - config["eta"] * a.T @ (a @ x - b)
        return x, 0.5 * jnp.sum((a @ x - b) ** 2)

    x, loss = jax.lax.scan(body, jnp.zeros(setup.n), None, length=setup.steps)
    return {"loss": loss, "final": loss[-1], "noise": jax.random.normal(key)}


def measure(data):
    return {"worst_final": float(data["gd"]["final"].max())}


def claims(measured, setup):
    return [st.Claim("converges", "GD lowers the loss below tol", measured["worst_final"], "<=", setup.tol)]


STUDY = st.Study(
    name="toy-least-squares", paper="Toy 2026", link="https://example.org/toy",
    description="GD on random least squares",
    settings={"n": st.Setting(4, paper=8, low=1), "steps": st.Setting(50, low=1),
              "tol": st.Setting(10.0, low=0.0)},
    axes={"eta": st.Axis((0.1, 0.2), low=0.0, low_open=True), "seed": st.seeds(3)},
    sweeps={"gd": st.Sweep(point, out_dims={"loss": ("step",)})},
    measure=measure, claims=claims,
)
