"""``overparam falsify``: parsing, exit statuses 0 / 1 / 2, result.json, and the pytest helpers."""

from __future__ import annotations

import argparse
import json
import re
import textwrap

import jax.numpy as jnp
import pytest

from overparam import testing as strategies
from overparam.falsify import Choice, Integer, Real, check, holds, space_from
from overparam.falsify.command import add_parser, main, parse_param, run

MODULE = textwrap.dedent(
    """
    import jax.numpy as jnp
    from overparam.falsify import Real, Integer

    SPACE = {"x": Real(0.0, 1.0), "n": Integer(1, 8)}

    def below(p):                       # false: violated for x > 0.75
        return 0.75 - p["x"] + 0.0 * p["n"].astype(jnp.float64)

    def fine(p):                        # true on the box
        return 2.0 - p["x"]

    def tagged(p):                      # carries its own space
        return p["z"] - 0.5
    tagged.space = {"z": Real(0.0, 1.0)}

    not_callable = 3
    """
)


@pytest.fixture(scope="module")
def module_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("conjectures") / "conj.py"
    path.write_text(MODULE)
    return path


@pytest.mark.parametrize(
    "text, axis",
    [
        ("x=0:1", ("x", Real(0.0, 1.0))),
        ("s=1e-6:1:log", ("s", Real(1e-6, 1.0, log=True))),
        ("n=1:64:int", ("n", Integer(1, 64))),
        ("r=0.5,1,2", ("r", Choice((0.5, 1, 2)))),
    ],
)
def test_param_syntax(text, axis):
    assert parse_param(text) == axis


@pytest.mark.parametrize("text, match", [("x", "must look like"), ("x=a:1", "'a' is not a number"),
                                         ("x=0:1:sqrt", "must look like"), ("n=0.5:3:int", "must be integers"),
                                         ("2x=0:1", "is not a parameter name"), ("x=0:inf", "not a finite")])
def test_bad_param_syntax_is_a_value_error(text, match):
    with pytest.raises(ValueError, match=match):
        parse_param(text)


def test_exit_status_one_with_the_counterexample_printed_and_result_json(module_path, tmp_path, capsys):
    out = tmp_path / "run"
    status = main([f"{module_path}:below", "--budget", "1200", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert status == 1
    assert "counterexample found" in printed and "x=1.0, n=1" in printed  # the box's far corner is simplest
    saved = json.loads((out / "result.json").read_text())
    assert saved["found"] is True and saved["shrunk"] == {"x": 1.0, "n": 1} and saved["shrunk_margin"] == -0.25
    assert saved["counterexample"]["x"] > 0.75
    assert sum(saved["evaluated"].values()) <= 1200
    assert (out / "stores" / "design.zarr").is_dir()


def test_exit_status_zero_when_nothing_is_found_and_param_overrides_the_space(module_path, capsys):
    assert main([f"{module_path}:fine", "--budget", "800", "--no-progress"]) == 0
    assert "no counterexample" in capsys.readouterr().out
    # --param replaces the module's axis: on x in [0, 0.5] `below` holds
    assert main([f"{module_path}:below", "--param", "x=0:0.5", "--budget", "800", "--no-progress"]) == 0


@pytest.mark.parametrize(
    "argv, match",
    [
        (["{m}:missing"], "has no attribute 'missing'"),
        (["{m}:not_callable"], "is not callable"),
        (["{m}"], "must look like MODULE:MARGIN"),
        (["no_such_module_xyz:f"], "cannot import module"),
        (["{m}:below", "--budget", "0"], "--budget 0 must be >= 1"),
        (["{m}:below", "--budget", "many"], "invalid int value"),
        (["{m}:below", "--param", "x=1:0"], r"Real\(1.0, 0.0\) needs lo <= hi"),
        (["{m}:below", "--resume"], "--resume needs --out"),
    ],
)
def test_bad_input_exits_with_status_two_and_one_line(module_path, capsys, argv, match):
    assert main([a.format(m=module_path) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("overparam falsify: error:")
    assert re.search(match, err), err


def test_add_parser_and_run_plug_into_a_command_line(module_path, capsys):
    parser = argparse.ArgumentParser(prog="overparam")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["falsify", f"{module_path}:tagged", "--budget", "700", "--seed", "3", "--no-progress"])
    assert args.command == "falsify" and args.budget == 700 and args.seed == 3
    assert run(args) == 1  # `tagged` carries its space: z < 0.5 violates
    assert "z=0.0" in capsys.readouterr().out
    no_space = parser.parse_args(["falsify", "overparam.falsify.result:margin_histogram"])  # no SPACE, no .space
    with pytest.raises(ValueError, match="has no space: give --param"):
        run(no_space)


# ----------------------------------------------------------------------------- pytest helpers


def test_check_fails_with_the_shrunk_counterexample():
    margin = lambda p: p["n"].astype(jnp.float64) - 3.0 * p["x"]  # noqa: E731 - violated iff n < 3 x
    space = {"n": Integer(0, 50), "x": Real(0.0, 10.0)}
    # shrunk: n to 0, then x past 0 (margin 0, no violation) to the far end 10: margin 0 - 30
    with pytest.raises(AssertionError, match=r"counterexample: margin -30\.0 < 0 at \{'n': 0, 'x': 10\.0\}"):
        check(margin, space, budget=1500)


@holds({"n": Integer(1, 40), "x": Real(0.0, 1.0)}, budget=1500)
def test_bernoulli_inequality_holds(p):
    """(1 + x)^n >= 1 + n x for x >= 0 (Bernoulli's inequality), as a decorated margin."""
    n = p["n"].astype(jnp.float64)
    return (1.0 + p["x"]) ** n - (1.0 + n * p["x"]) + 1e-12 * (1.0 + p["x"]) ** n


def test_decorated_margin_is_a_test_that_fails_on_nan():
    test = holds({"x": Real(-1.0, 1.0)}, budget=800)(lambda p: jnp.sqrt(p["x"]))  # NaN for x < 0
    assert test.space == {"x": Real(-1.0, 1.0)}
    with pytest.raises(AssertionError, match="NaN or infinite at"):
        test()
    assert check(test.margin, test.space, budget=800, allow_nonfinite=True).nonfinite.count > 0


def test_space_from_the_strategies_of_overparam_testing():
    space = space_from(strategies.sensing_params, rank=(2, 5), init_scale=(1e-8, 1e-2))
    assert space == {"seed": Integer(0, 2**31 - 1), "rank": Integer(2, 5), "init_scale": Real(1e-8, 1e-2, log=True),
                     "step_size": Real(0.05, 0.25, log=True), "outlier_fraction": Real(0.0, 0.0),
                     "noise": Real(0.0, 0.0), "cond": Real(1.0, 1.0)}
    assert strategies.SensingParams(**{k: v.lo for k, v in space.items()}).rank == 2
    rf = space_from(strategies.rf_tasks, ridge=(1e-4, 1e-2))
    assert rf["ridge"] == Real(1e-4, 1e-2, log=True) and rf["n"] == Integer(8, 512) and rf["alpha"] == Real(1.2, 3.0)
    with pytest.raises(ValueError, match=r"outlier_fraction=\(0.0, 1.0\) must lie in \[0, 1\)"):
        space_from(strategies.sensing_params, outlier_fraction=(0.0, 1.0))  # the strategy's own check
    with pytest.raises(ValueError, match="strategy must be one of"):
        space_from(strategies.bernoulli_classes)


def test_check_uses_a_fixed_key_so_a_test_is_deterministic():
    margin = lambda p: jnp.abs(p["x"] - 0.123456) + 0.1  # noqa: E731 - true
    a = check(margin, {"x": Real(0.0, 1.0)}, budget=800)
    b = check(margin, {"x": Real(0.0, 1.0)}, budget=800)
    assert a.min_margin == b.min_margin and a.argmin == b.argmin
    # stage 2 walks to the kink at x = 0.123456: observed 3.3e-6 above the minimum 0.1
    assert a.min_margin == pytest.approx(0.1, abs=3e-5)
