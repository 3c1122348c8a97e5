"""Execute every notebook in notebooks/ at smoke size.

Each notebook ends with asserts that compare its measurements with the theory (the paper's
claims), so a notebook that executes without error has passed its checks. The test also checks
that the final cell holds such asserts, so a notebook cannot pass by checking nothing.
"""

from __future__ import annotations

import ast
import os
from pathlib import Path

import pytest

jupytext = pytest.importorskip("jupytext")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


def test_notebooks_exist() -> None:
    names = {p.stem for p in NOTEBOOKS}
    assert {"xiong_sym_vs_asym", "ma_fattahi_subgm"} <= names


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes_and_its_theory_checks_hold(path: Path, monkeypatch) -> None:
    notebook = jupytext.read(path)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    checks = [node for node in ast.parse(code[-1].source).body if isinstance(node, ast.Assert)]
    assert checks, f"{path.name}: the last code cell must end the notebook with asserts against the theory"
    # the kernel inherits this environment: smoke size, one thread pool per process, x64 is set by the notebook
    monkeypatch.setenv("OVERPARAM_SMOKE", "1")
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    )
    client.execute()
    errors = [o for c in code for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert os.environ["OVERPARAM_SMOKE"] == "1"
