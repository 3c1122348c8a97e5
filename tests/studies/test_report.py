"""overparam.report: claims tables, failing studies, resume, the static pages and their links."""

from __future__ import annotations

import html.parser
import shutil
import subprocess
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

import overparam.study as st
from overparam import plot, report

BLUE = (0, 0, 255)
CALLS: dict[str, int] = {}


def _study(name: str, passed: list[bool], raises: bool = False) -> st.Study:
    def point(config, key):
        return {"y": config["seed"].astype(jnp.float64)}

    def measure(data):
        CALLS[name] = CALLS.get(name, 0) + 1
        if raises:
            raise FloatingPointError("the fake study diverged at step 7")
        return {"half": 0.5}

    def claims(measured):
        return [st.Claim(f"c{i}", f"claim {i} | with a pipe", measured["half"] * i, "<" if ok else ">", 1.0)
                for i, ok in enumerate(passed)]

    def figures(data):
        fig, axes = plot.figure(width=2.5, height=2.5)
        fig.set_facecolor("#0000ff")
        axes[0, 0].set_facecolor("#0000ff")
        axes[0, 0].set_xlabel("seed")
        return [st.Figure("solid", fig, caption="a solid blue square against nothing", data={"seed": [0, 1]})]

    return st.Study(name=name, paper=f"{name.title()} 2020", link=f"https://example.org/{name}",
                    sweeps={"s": st.Sweep(point)}, axes={"seed": st.seeds(2)}, measure=measure, claims=claims,
                    figures=figures)


@pytest.fixture
def fake_registry(monkeypatch):
    studies = {"alpha": _study("alpha", [True, True, False]), "broken": _study("broken", [True], raises=True),
               "gamma": _study("gamma", [True])}
    monkeypatch.setattr(st, "builtin_studies", lambda: studies)
    CALLS.clear()
    return studies


@pytest.fixture
def reproduced(tmp_path, fake_registry):
    out = tmp_path / "result"
    return out, report.reproduce(out, size="quick", progress=False)


def test_counts_and_failed_study(reproduced) -> None:
    out, results = reproduced
    assert [r.name for r in results] == ["alpha", "broken", "gamma"]
    claims = [c for r in results for c in r.claims]
    assert report.count_passed(claims) == (3, 5)
    broken = results[1]
    assert not broken.passed and len(broken.claims) == 1
    assert "FloatingPointError: the fake study diverged at step 7" in broken.claims[0].claim.detail
    from overparam.study import claims as claims_mod

    assert claims_mod.read(out / "broken")[0].passed is False  # on disk too, for `overparam show`
    assert len(claims_mod.read(out)) == 5


def test_claims_table_contents(reproduced) -> None:
    out, results = reproduced
    lines = report.claims_table([c for r in results for c in r.claims]).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == ["paper", "claim", "measured", "expected", "result"]
    body = [ln for ln in lines[2:] if ln.startswith("|")]
    verdicts = [ln.rstrip(" |").rsplit("|", 1)[-1].strip() for ln in body]
    assert verdicts == ["pass", "pass", "FAIL", "FAIL", "pass"]
    assert "claim 0 \\| with a pipe" in body[0] and "| 0.5 " in body[1] and "| < 1 " in body[1]
    assert lines[-1] == "3 of 5 claims pass"
    md = (out / "report.md").read_text()
    assert "3 of 5 claims pass" in md and "![solid](alpha/solid.png)" in md
    assert "[data (CSV)](alpha/solid.csv)" in md and "*a solid blue square against nothing*" in md


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


def test_pages_link_relatively_and_survive_a_move(reproduced, tmp_path) -> None:
    out, _ = reproduced
    moved = tmp_path / "moved"
    shutil.move(out, moved)
    index = _Links()
    index.feed((moved / "index.html").read_text())
    assert index.rows == ["pass", "pass", "fail", "fail", "pass"] and index.scripts == 0
    assert {"alpha.html", "broken.html", "gamma.html"} <= set(index.anchors)
    page = _Links()
    page.feed((moved / "alpha.html").read_text())
    assert page.images == ["alpha/solid.png"]
    assert {"alpha/solid.svg", "alpha/solid.csv", "alpha/s.zarr", "https://example.org/alpha"} <= set(page.anchors)
    for link in page.images + [a for a in page.anchors if not a.startswith("https:")]:
        assert not Path(link).is_absolute() and (moved / link).exists(), link
    text = (moved / "alpha.html").read_text()
    assert "dtype float64" in text and "jax " in text  # dtype, devices and versions on the page
    assert (moved / "alpha" / "solid.csv").read_text().splitlines() == ["seed", "0.0", "1.0"]


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
    assert CALLS == {"alpha": 1, "broken": 1, "gamma": 1}
    again = report.reproduce(out, size="quick", progress=False, resume=True)
    # alpha and gamma completed (alpha with a failing claim) and are read back; broken raised and runs again
    assert CALLS == {"alpha": 1, "broken": 2, "gamma": 1}
    assert [[c.record() for c in r.claims] for r in again][0] == [c.record() for c in first[0].claims]
    assert (out / report.REPORT_MD).read_text().count("![solid](") == 2
    report.reproduce(out, size="paper", progress=False, resume=True)  # another size: everything runs
    assert CALLS == {"alpha": 2, "broken": 3, "gamma": 2}
    report.reproduce(out, size="paper", progress=False, overwrite=True)
    assert CALLS == {"alpha": 3, "broken": 4, "gamma": 3}


def test_progress_is_one_line_per_study_in_a_log(tmp_path, fake_registry, capsys) -> None:
    report.reproduce(tmp_path / "r", size="quick", progress=True)
    err = capsys.readouterr().err
    assert "[1/3] alpha (Alpha 2020) ..." in err and "2 of 3 claims pass" in err and "[3/3] gamma" in err


CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed")
def test_screenshot_shows_table_colours_and_full_size_figures(reproduced) -> None:
    """Render the pages headless: the verdict colours and the (solid blue) figure at full size."""
    import matplotlib.image

    out, _ = reproduced

    def shot(page: str) -> np.ndarray:
        png = out / f".shot-{page}.png"
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--screenshot={png}", "--window-size=1280,1400", (out / page).as_uri()]
        subprocess.run(cmd, check=True, capture_output=True, timeout=90)
        return np.round(matplotlib.image.imread(png)[..., :3] * 255).astype(int)

    def count(pixels: np.ndarray, rgb: tuple[int, int, int]) -> int:
        return int(np.sum(np.all(np.abs(pixels - np.array(rgb)) <= 2, axis=-1)))

    index = shot("index.html")
    assert count(index, (0xD9, 0xF2, 0xD9)) > 500 and count(index, (0xF8, 0xD7, 0xDA)) > 500
    # a 2.5 in figure at 130 dpi is about 325 px square: shown at its own size, not shrunk
    assert count(shot("alpha.html"), BLUE) > 250 * 250
