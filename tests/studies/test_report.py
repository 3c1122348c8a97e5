"""overparam.report: the claims table, pass/fail counting, failing studies, and the static page."""

from __future__ import annotations

import dataclasses
import html.parser
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from overparam import plot, report
from overparam.studies.base import Claim, StudyResult, read_claims, write_claims

BLUE = (0, 0, 255)


@dataclasses.dataclass
class FakeStudy:
    """A study whose one figure is a solid blue square and whose claims are known in advance."""

    name: str
    paper: str
    claims_passed: Sequence[bool]
    raises: bool = False
    description: str = "a fake study for the report tests"
    calls: list = dataclasses.field(default_factory=list)

    def axes(self, size: str) -> Mapping[str, Sequence[float]]:
        return {"seed": [0, 1]}

    def run(self, *, size, out, overrides=None, resume=False, progress=True) -> StudyResult:
        self.calls.append({"size": size, "resume": resume})
        if self.raises:
            raise FloatingPointError("the fake study diverged at step 7")
        fig, axes = plot.figure(width=2.0, height=2.0)
        fig.set_facecolor("#0000ff")
        axes[0, 0].set_facecolor("#0000ff")
        axes[0, 0].set_xlabel("step")
        figures = plot.save(fig, out, "solid")
        claims = [
            Claim(self.name, self.paper, f"claim {i} | with a pipe", f"{0.5 * i:.2f}", "< 1", ok)
            for i, ok in enumerate(self.claims_passed)
        ]
        write_claims(out, claims)
        return StudyResult(self.name, Path(out), claims, figures=figures)


@pytest.fixture
def fake_registry(monkeypatch):
    studies = {
        "alpha": FakeStudy("alpha", "Alpha & Beta 2020", [True, True, False]),
        "broken": FakeStudy("broken", "Broken 2021", [True], raises=True),
        "gamma": FakeStudy("gamma", "Gamma 2022", [True]),
    }
    monkeypatch.setattr(report, "registry", lambda: studies)
    return studies


@pytest.fixture
def reproduced(tmp_path, fake_registry):
    out = tmp_path / "result"
    results = report.reproduce(out, size="quick", progress=False)
    return out, results


def test_counts_and_failed_study(reproduced) -> None:
    out, results = reproduced
    assert [r.name for r in results] == ["alpha", "broken", "gamma"]
    claims = [c for r in results for c in r.claims]
    assert report.count_passed(claims) == (3, 5)
    broken = results[1]
    assert not broken.passed and len(broken.claims) == 1
    assert "FloatingPointError: the fake study diverged at step 7" in broken.claims[0].measured
    # the failure is on disk too, so `overparam show` reports it
    assert read_claims(out / "broken")[0].passed is False
    assert len(report.load_claims(out)) == 5


def test_claims_table_contents(reproduced) -> None:
    out, results = reproduced
    table = report.claims_table([c for r in results for c in r.claims])
    lines = table.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header == ["paper", "claim", "measured", "expected", "result"]
    body = [ln for ln in lines[2:] if ln.startswith("|")]
    assert len(body) == 5
    verdicts = [ln.rstrip(" |").rsplit("|", 1)[-1].strip() for ln in body]
    assert verdicts == ["pass", "pass", "FAIL", "FAIL", "pass"]
    assert "claim 0 \\| with a pipe" in body[0]  # a pipe inside a cell is escaped
    assert lines[-1] == "3 of 5 claims pass"
    md = (out / "report.md").read_text()
    assert "3 of 5 claims pass" in md and "![solid](alpha/solid.png) ([SVG](alpha/solid.svg))" in md


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.anchors: list[str] = []
        self.scripts = 0
        self.rows: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.images.append(a["src"])
        elif tag == "a":
            self.anchors.append(a["href"])
        elif tag == "script":
            self.scripts += 1
        elif tag == "tr" and "class" in a:
            self.rows.append(a["class"])


def test_html_links_are_relative_and_resolve(reproduced, tmp_path) -> None:
    out, _ = reproduced
    moved = tmp_path / "moved"
    shutil.move(out, moved)  # relative links survive moving the folder
    parser = _Links()
    parser.feed((moved / "index.html").read_text())
    assert parser.images == ["alpha/solid.png", "gamma/solid.png"]
    assert parser.anchors == ["alpha/solid.svg", "gamma/solid.svg"]
    for link in parser.images + parser.anchors:
        assert not Path(link).is_absolute() and (moved / link).is_file()
    assert parser.scripts == 0
    assert parser.rows == ["pass", "pass", "fail", "fail", "pass"]


def test_bad_arguments(tmp_path, fake_registry) -> None:
    with pytest.raises(ValueError, match="size must be one of"):
        report.reproduce(tmp_path, size="huge", progress=False)
    with pytest.raises(ValueError, match="unknown study 'delta'"):
        report.reproduce(tmp_path, studies=["alpha", "delta"], progress=False)
    results = report.reproduce(tmp_path / "one", studies=["gamma"], progress=False)
    assert [r.name for r in results] == ["gamma"] and report.count_passed(results[0].claims) == (1, 1)


def test_resume_reads_back_completed_studies_and_reruns_the_rest(tmp_path, fake_registry) -> None:
    out = tmp_path / "result"
    first = report.reproduce(out, size="quick", progress=False)
    assert [len(s.calls) for s in fake_registry.values()] == [1, 1, 1]
    again = report.reproduce(out, size="quick", progress=False, resume=True)
    # alpha and gamma completed (alpha with a failing claim) and are read back; broken raised and runs again
    assert [len(s.calls) for s in fake_registry.values()] == [1, 2, 1]
    assert fake_registry["broken"].calls[-1] == {"size": "quick", "resume": True}
    assert [r.claims for r in again] == [r.claims for r in first]
    by_name = {r.name: r for r in again}
    assert [p.name for p in by_name["alpha"].figures] == ["solid.png", "solid.svg"]
    assert all(p.is_file() for p in by_name["alpha"].figures)
    assert (out / report.REPORT_MD).read_text().count("solid.png") == 2
    # another size, a missing claims file or no resume: the study runs again
    report.reproduce(out, size="paper", progress=False, resume=True)
    assert [len(s.calls) for s in fake_registry.values()] == [2, 3, 2]
    # a completed quick run holds nothing to resume at paper size; an interrupted one (no record) does
    assert fake_registry["alpha"].calls[-1] == {"size": "paper", "resume": False}
    assert fake_registry["broken"].calls[-1] == {"size": "paper", "resume": True}
    (out / "gamma" / "claims.json").unlink()
    report.reproduce(out, size="paper", progress=False, resume=True)
    assert [len(s.calls) for s in fake_registry.values()] == [2, 4, 3]
    report.reproduce(out, size="paper", progress=False)
    assert [len(s.calls) for s in fake_registry.values()] == [3, 5, 4]
    assert report.read_completed("alpha", out / "alpha", "quick") is None
    assert report.read_completed("gamma", out / "alpha", "paper") is None


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_screenshot_shows_table_colours_and_figures(reproduced) -> None:
    """Render index.html headless: the verdict colours and the (solid blue) figures are visible."""
    import matplotlib.image

    out, _ = reproduced
    shot = out / "screenshot.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--screenshot={shot}", "--window-size=1280,1400", (out / "index.html").as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=90)
    pixels = np.round(matplotlib.image.imread(shot)[..., :3] * 255).astype(int)

    def count(rgb: tuple[int, int, int]) -> int:
        return int(np.sum(np.all(np.abs(pixels - np.array(rgb)) <= 2, axis=-1)))

    assert count((0xD9, 0xF2, 0xD9)) > 500  # green "pass" cells
    assert count((0xF8, 0xD7, 0xDA)) > 500  # red "FAIL" cells
    # two 240x240 px solid blue figures, loaded through the relative links
    assert count(BLUE) > 2 * 150 * 150
