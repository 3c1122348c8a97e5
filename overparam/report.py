"""Run every study and write the report: a claims table and the figures, as Markdown and static HTML.

``reproduce(out)`` runs each study of :func:`overparam.studies.registry` into ``out/<study name>/``
and then :func:`write_report` writes

* ``out/report.md``  -- the claims table (paper, claim, measured, expected, pass/fail) and the
  figures as relative Markdown image links;
* ``out/index.html`` -- the same as one static page (inline CSS, no scripts, no server), with
  relative ``<img>`` paths, so the folder can be moved, archived or opened from disk.

A study that raises does not stop the others: it is recorded as one failed claim carrying the
error, and its ``claims.json`` is written so that ``overparam show`` sees the failure too.

A study that completes leaves ``out/<study name>/result.json`` (its size, figures, datasets and
wall time), written last. ``reproduce(out, resume=True)`` reads such a study back instead of
running it again, and resumes the others (their sweeps skip finished chunks), so an interrupted
paper-size reproduction loses at most the study it was in.
"""

from __future__ import annotations

import html
import json
import os
import sys
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path

from overparam.studies import registry
from overparam.studies.base import SIZES, Claim, Study, StudyResult, read_claims, write_claims

__all__ = [
    "INDEX_HTML",
    "REPORT_MD",
    "RESULT_FILE",
    "claims_table",
    "count_passed",
    "load_claims",
    "read_completed",
    "reproduce",
    "write_completed",
    "write_report",
]

REPORT_MD = "report.md"
INDEX_HTML = "index.html"
RESULT_FILE = "result.json"
_COLUMNS = ("paper", "claim", "measured", "expected", "result")


def count_passed(claims: Sequence[Claim]) -> tuple[int, int]:
    """``(number of passed claims, number of claims)``."""
    return sum(bool(c.passed) for c in claims), len(claims)


def _verdict(claim: Claim) -> str:
    return "pass" if claim.passed else "FAIL"


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def claims_table(claims: Sequence[Claim]) -> str:
    """The claims as a Markdown table with columns paper, claim, measured, expected, result.

    The table is followed by a line ``N of M claims pass``; it reads well in a terminal
    (``overparam show``) and renders as a table in Markdown.
    """
    rows = [[c.paper, c.claim, c.measured, c.expected, _verdict(c)] for c in claims]
    header = list(_COLUMNS)
    cells = [[_md_cell(x) for x in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(header)]
    line = lambda row: "| " + " | ".join(x.ljust(w) for x, w in zip(row, widths)) + " |"  # noqa: E731
    out = [line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    passed, total = count_passed(claims)
    out += ["", f"{passed} of {total} claims pass"]
    return "\n".join(out)


def _failed_result(study: Study | None, name: str, out: Path, error: BaseException, wall: float) -> StudyResult:
    message = f"{type(error).__name__}: {error}"
    claim = Claim(
        study=name,
        paper=getattr(study, "paper", name),
        claim="the study runs to completion",
        measured=message,
        expected="no error",
        passed=False,
    )
    try:
        write_claims(out, [claim])
        (out / "error.txt").write_text("".join(traceback.format_exception(error)))
    except OSError:
        pass
    return StudyResult(name=name, out=out, claims=[claim], wall_time_s=wall)


def write_completed(result: StudyResult, size: str) -> Path:
    """Record that ``result`` completed at ``size``: ``result.out/result.json``; returns its path.

    Paths are stored relative to the study folder, so the result folder can be moved.
    """
    folder = Path(result.out)
    record = {
        "study": result.name,
        "size": size,
        "figures": [_relative(f, folder) for f in result.figures],
        "datasets": [_relative(d, folder) for d in result.datasets],
        "wall_time_s": float(result.wall_time_s),
        "claims": len(result.claims),
    }
    path = folder / RESULT_FILE
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def _read_record(folder: Path) -> dict | None:
    """The contents of ``folder/result.json``, or None when there is no readable record."""
    try:
        record = json.loads((folder / RESULT_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def read_completed(name: str, folder: str | Path, size: str) -> StudyResult | None:
    """The :class:`StudyResult` a completed run of study ``name`` at ``size`` left in ``folder``.

    ``None`` when there is none: no ``result.json``, one for another study or size, or claims that
    do not match the count it recorded (an interrupted or foreign folder).
    """
    folder = Path(folder)
    record = _read_record(folder)
    if record is None or record.get("study") != name or record.get("size") != size:
        return None
    try:
        claims = read_claims(folder)
    except (OSError, ValueError, TypeError):
        return None
    if len(claims) != record.get("claims"):
        return None
    return StudyResult(
        name=name,
        out=folder,
        claims=claims,
        figures=[folder / f for f in record.get("figures", [])],
        datasets=[folder / d for d in record.get("datasets", [])],
        wall_time_s=float(record.get("wall_time_s", 0.0)),
    )


def reproduce(
    out: str | Path,
    size: str = "quick",
    progress: bool = True,
    studies: Sequence[str] | None = None,
    resume: bool = False,
) -> list[StudyResult]:
    """Run the studies named in ``studies`` (all registered ones if None) at ``size`` into ``out``.

    Study ``s`` runs into ``out/<s.name>/``. A study that raises, or returns no claims, is recorded
    as a failed claim carrying the error; the remaining studies still run. With ``resume=True`` a
    study that already completed at ``size`` in ``out`` (:func:`read_completed`) is read back, not
    run, and the others are run with ``resume=True``. Writes ``out/report.md`` and
    ``out/index.html`` (:func:`write_report`) and returns the results in registry order.
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    available: Mapping[str, Study] = registry()
    if studies is None:
        names = list(available)
    else:
        names = list(studies)
        unknown = [n for n in names if n not in available]
        if unknown:
            raise ValueError(f"studies: unknown study {unknown[0]!r}; available are {sorted(available)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results: list[StudyResult] = []
    for i, name in enumerate(names, 1):
        study = available[name]
        folder = out / name
        done = read_completed(name, folder, size) if resume else None
        if done is not None:
            results.append(done)
            if progress:
                passed, total = count_passed(done.claims)
                print(f"[{i}/{len(names)}] {name}: completed earlier, {passed} of {total} claims pass",
                      file=sys.stderr, flush=True)
            continue
        # a folder that holds a completed run at another size has nothing to resume
        resume_study = resume and (_read_record(folder) or {}).get("size") in (None, size)
        (folder / RESULT_FILE).unlink(missing_ok=True)
        if progress:
            print(f"[{i}/{len(names)}] {name} ({study.paper}) ...", file=sys.stderr, flush=True)
        start = time.perf_counter()
        try:
            result = study.run(size=size, out=folder, resume=resume_study, progress=progress)
            result.wall_time_s = result.wall_time_s or time.perf_counter() - start
            if not result.claims:
                raise RuntimeError("the study returned no claims")
            write_completed(result, size)
        except Exception as error:  # one broken study must not hide the others' results
            result = _failed_result(study, name, folder, error, time.perf_counter() - start)
        results.append(result)
        if progress:
            passed, total = count_passed(result.claims)
            print(f"      {passed} of {total} claims pass ({result.wall_time_s:.1f} s)", file=sys.stderr, flush=True)
    write_report(out, results, size=size)
    return results


def _relative(path: Path, out: Path) -> str:
    path = Path(path)
    if not path.is_absolute():
        candidate = out / path
        path = candidate if candidate.exists() else Path.cwd() / path
    return Path(os.path.relpath(path.resolve(), out.resolve())).as_posix()


def _figures(result: StudyResult, out: Path) -> list[tuple[str, str | None]]:
    """``(png path, svg path or None)`` relative to ``out`` for each figure of ``result``."""
    figures = [Path(f) for f in result.figures]
    svgs = {f.with_suffix("").as_posix() for f in figures if f.suffix.lower() == ".svg"}
    pairs = []
    for f in figures:
        if f.suffix.lower() != ".png":
            continue
        svg = f.with_suffix(".svg") if f.with_suffix("").as_posix() in svgs else None
        pairs.append((_relative(f, out), _relative(svg, out) if svg else None))
    return pairs


def _markdown(out: Path, results: Sequence[StudyResult], size: str | None) -> str:
    claims = [c for r in results for c in r.claims]
    passed, total = count_passed(claims)
    lines = ["# overparam: the seed papers' claims, measured", ""]
    if size:
        lines += [f"Size: `{size}`. {passed} of {total} claims pass.", ""]
    lines += ["## Claims", "", claims_table(claims), "", "## Figures", ""]
    for r in results:
        lines += [f"### {r.name}", ""]
        if r.wall_time_s:
            lines += [f"Wall time {r.wall_time_s:.1f} s.", ""]
        for png, svg in _figures(r, out):
            lines += [f"![{Path(png).stem}]({png})" + (f" ([SVG]({svg}))" if svg else ""), ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr.pass td.result { background: #d9f2d9; color: #145214; font-weight: bold; }
tr.fail td.result { background: #f8d7da; color: #8a1c24; font-weight: bold; }
.summary { font-size: 1.1em; }
figure { display: inline-block; margin: 0.5em; }
figure img { max-width: 560px; border: 1px solid #ddd; }
"""


def _html(out: Path, results: Sequence[StudyResult], size: str | None) -> str:
    esc = html.escape
    claims = [c for r in results for c in r.claims]
    passed, total = count_passed(claims)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>overparam report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>overparam: the seed papers' claims, measured</h1>",
        f'<p class="summary" id="summary">{passed} of {total} claims pass'
        + (f" (size <code>{esc(size)}</code>)" if size else "")
        + ".</p>",
        "<h2>Claims</h2>",
        '<table id="claims"><thead><tr>' + "".join(f"<th>{c}</th>" for c in _COLUMNS) + "</tr></thead><tbody>",
    ]
    for c in claims:
        cls = "pass" if c.passed else "fail"
        parts.append(
            f'<tr class="{cls}"><td>{esc(c.paper)}</td><td>{esc(c.claim)}</td><td>{esc(c.measured)}</td>'
            f'<td>{esc(c.expected)}</td><td class="result">{_verdict(c)}</td></tr>'
        )
    parts += ["</tbody></table>", "<h2>Figures</h2>"]
    for r in results:
        parts.append(f'<h3 id="{esc(r.name)}">{esc(r.name)}</h3>')
        if not r.passed and not r.figures:
            parts.append("<p>No figures: the study did not complete.</p>")
        for png, svg in _figures(r, out):
            link = f' <a href="{esc(svg)}">SVG</a>' if svg else ""
            parts.append(
                f'<figure><img src="{esc(png)}" alt="{esc(Path(png).stem)}">'
                f"<figcaption>{esc(Path(png).stem)}{link}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(out: str | Path, results: Sequence[StudyResult], *, size: str | None = None) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/index.html`` for ``results``; return the two paths.

    Figure links are relative to ``out``; the HTML page is static (no scripts, no server).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    md = out / REPORT_MD
    md.write_text(_markdown(out, results, size))
    page = out / INDEX_HTML
    page.write_text(_html(out, results, size))
    return md, page


def load_claims(out: str | Path) -> list[Claim]:
    """Every claim stored under ``out`` (its own ``claims.json`` or those of its study folders)."""
    return read_claims(Path(out))
