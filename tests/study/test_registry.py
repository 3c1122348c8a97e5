"""Finding studies: files, modules, the smallest study (a grid and a point), installed entry points."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path

import pytest

import overparam.study as st
from overparam import cli, store

HERE = Path(__file__).resolve().parent


SMALLEST = textwrap.dedent(
    '''
    """Mean of a scaled normal sample."""
    import jax, jax.numpy as jnp

    GRID = {"scale": [0.5, 1.0, 2.0], "seed": [0, 1, 2, 3]}

    def point(config, key):
        x = config["scale"] * jax.random.normal(key, (100,))
        return {"mean": jnp.mean(x), "var": jnp.var(x)}
    '''
)


def test_the_smallest_study_is_a_grid_and_a_point(tmp_path, capsys):
    path = tmp_path / "my_study.py"
    path.write_text(SMALLEST)
    study = st.load_study(str(path))
    assert study.name == "my-study" and study.description == "Mean of a scaled normal sample."
    out = tmp_path / "r"
    assert cli.main(["run", str(path), "--out", str(out), "--no-progress"]) == 0
    ds = store.load(out / "sweep.zarr")
    assert ds["var"].dims == ("scale", "seed")
    # var of 100 N(0, s^2) draws: its mean over 4 seeds is s^2 within a few standard errors (s.e. ~ s^2 sqrt(2/99)/2)
    ratio = ds["var"].mean("seed").values / ds["scale"].values ** 2
    assert abs(ratio - 1).max() < 5 * (2 / 99) ** 0.5 / 2


def test_file_and_module_references(tmp_path, monkeypatch):
    path = tmp_path / "two_studies.py"
    path.write_text(SMALLEST + textwrap.dedent(
        """
        import overparam.study as st
        OTHER = st.Study(name="other", sweeps={"s": st.Sweep(point)}, axes=GRID)
        """))
    assert st.load_study(f"{path}:OTHER").name == "other"
    monkeypatch.syspath_prepend(str(tmp_path))
    assert st.load_study("two_studies:OTHER").name == "other"
    assert st.load_study(str(HERE / "toy_study.py")).name == "toy-least-squares"
    with pytest.raises(ValueError, match="defines no STUDY, and no `point` function with a `GRID` dict"):
        st.load_study("json:")


class _EntryPoint:
    def __init__(self, name: str, value: str, obj) -> None:
        self.name, self.value, self._obj = name, value, obj

    def load(self):
        if isinstance(self._obj, Exception):
            raise self._obj
        return self._obj


def test_installed_studies_register_through_entry_points(monkeypatch, capsys):
    toy = st.load_study(str(HERE / "toy_study.py"))
    real = importlib.metadata.entry_points

    def entry_points(**kw):
        if kw.get("group") == st.ENTRY_POINT_GROUP:
            return [_EntryPoint("toy", "toy_package:STUDY", toy)]
        return real(**kw)

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert st.installed_studies() == {"toy-least-squares": toy}
    assert st.load_study("toy-least-squares") is toy
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(ln.startswith("toy-least-squares") and ln.endswith("[installed]") for ln in lines)
    names = [ln.split()[0] for ln in lines]
    assert len(names) == len(set(names))  # every study once

    monkeypatch.setattr(importlib.metadata, "entry_points",
                        lambda **kw: [_EntryPoint("bad", "nowhere:STUDY", ImportError("no module nowhere"))])
    with pytest.raises(ValueError, match="entry point 'bad' .* cannot be loaded: ImportError: no module nowhere"):
        st.installed_studies()
