"""Run every built-in study and write the report; claims tables and comparisons of result folders.

``reproduce(out)`` runs each study of :func:`overparam.study.builtin_studies` into
``out/<study>/`` through :func:`overparam.study.run_study`, then :func:`write_report` writes
(docs/studies.md#the-report):

* ``out/report.md`` -- the claims table (paper, claim, measured, expected, result) and, per study,
  its figures with captions, data links, dtype, devices and versions;
* ``out/index.html`` -- the claims table and links to one page per study;
* ``out/<study>.html`` -- the study's page: paper link, claims with their numbers, full-size
  figures with captions, links to the SVG, the CSV of each figure's data and the datasets.

Pages are static (inline CSS, no scripts) with relative links, so the folder opens from disk and
survives a move. ``out/overparam-report.json`` lists what the reproduction wrote; a folder that
holds anything else is refused, and ``overwrite`` removes only what it lists. A study that raises
does not stop the others: it is recorded as one failed claim carrying the error.
"""

from __future__ import annotations

import html
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from overparam.study import claims as claims_mod
from overparam.study import output
from overparam.study.claims import ClaimResult
from overparam.study.runner import StudyResult, read_result, run_study
from overparam.study.spec import SIZES

__all__ = ["INDEX_HTML", "MANIFEST", "REPORT_MD", "claims_table", "compare_claims", "count_passed", "reproduce",
           "write_report"]

REPORT_MD = "report.md"
INDEX_HTML = "index.html"
MANIFEST = "overparam-report.json"
_COLUMNS = ("paper", "claim", "measured", "expected", "result")


def count_passed(claims: Sequence[ClaimResult]) -> tuple[int, int]:
    """``(number of passed claims, number of claims)``."""
    return sum(bool(c.passed) for c in claims), len(claims)


def _verdict(c: ClaimResult) -> str:
    return "pass" if c.passed else "FAIL"


def _md_cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def claims_table(claims: Sequence[ClaimResult]) -> str:
    """The claims as a Markdown table (paper, claim, measured, expected, result) and ``N of M claims pass``."""
    rows = [[c.paper, c.claim.statement, c.claim.measured_text(), c.claim.expected_text(), _verdict(c)]
            for c in claims]
    cells = [[_md_cell(x) for x in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(_COLUMNS)]
    line = lambda row: "| " + " | ".join(x.ljust(w) for x, w in zip(row, widths)) + " |"  # noqa: E731
    out = [line(list(_COLUMNS)), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    passed, total = count_passed(claims)
    out += ["", f"{passed} of {total} claims pass"]
    return "\n".join(out)


def _check_folder(out: Path, size: str, resume: bool, overwrite: bool) -> dict[str, Any]:
    """The manifest of an earlier reproduction in ``out`` (or a new one); refuse anything foreign."""
    if out.exists() and not out.is_dir():
        raise output.FolderError(f"--out {str(out)!r} is a file, not a folder")
    fresh = {"size": size, "studies": [], "files": [MANIFEST, REPORT_MD, INDEX_HTML]}
    if not out.exists() or not any(out.iterdir()):
        return fresh
    manifest = output.read_json(out / MANIFEST)
    if not isinstance(manifest, dict):
        raise output.FolderError(f"--out {str(out)!r} is not empty and holds no overparam reproduction; "
                                 "choose a new or empty folder")
    listed = set(manifest.get("files", [])) | set(manifest.get("studies", []))
    foreign = sorted(p.name for p in out.iterdir() if p.name not in listed and not p.name.startswith("."))
    if foreign:
        raise output.FolderError(f"--out {str(out)!r} holds files overparam did not write ({', '.join(foreign[:5])}); "
                                 "move them or choose another folder")
    if overwrite:
        for name in manifest.get("studies", []):
            folder = out / name
            if folder.is_dir():
                output.prepare(folder, {"study": name}, resume=False, overwrite=True, same=lambda m: True)
                if not any(folder.iterdir()):
                    folder.rmdir()
        for name in manifest.get("files", []):
            (out / name).unlink(missing_ok=True)
        return fresh
    if not resume:
        raise output.FolderError(f"--out {str(out)!r} already holds a reproduction (size {manifest.get('size')!r}); "
                                 "pass --resume to continue it or --overwrite to start afresh")
    return {**fresh, "studies": list(manifest.get("studies", []))}


def _log(progress: bool, text: str) -> None:
    if progress:
        print(text, file=sys.stderr, flush=True)


def reproduce(out: str | Path, size: str = "quick", progress: bool = True, studies: Sequence[str] | None = None,
              resume: bool = False, overwrite: bool = False) -> list[StudyResult]:
    """Run the built-in studies named in ``studies`` (all if None) at ``size`` into ``out``; write the report.

    With ``resume`` a study that completed at ``size`` is read back, the others resume their sweeps;
    with ``overwrite`` an earlier reproduction's files are removed first. Progress is one line per
    study on stderr (it reads well in a log file). Returns the results in registry order.
    """
    from overparam.study import builtin_studies

    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, got {size!r}")
    available = builtin_studies()
    names = list(available) if studies is None else list(studies)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ValueError(f"studies: unknown study {unknown[0]!r}; available are {sorted(available)}")
    out = Path(out)
    manifest = _check_folder(out, size, resume, overwrite)
    output.check_writable(out)
    manifest["size"] = size
    manifest["studies"] = sorted(set(manifest["studies"]) | set(names))
    output.write_json(out / MANIFEST, manifest)
    results: list[StudyResult] = []
    for i, name in enumerate(names, 1):
        study = available[name]
        folder = out / name
        done = read_result(folder, name, size) if resume else None
        if done is not None:
            passed, total = count_passed(done.claims)
            _log(progress, f"[{i}/{len(names)}] {name}: completed earlier, {passed} of {total} claims pass")
            results.append(done)
            continue
        _log(progress, f"[{i}/{len(names)}] {name} ({study.paper}) ...")
        start = time.perf_counter()
        marker = output.read_json(folder / output.RUN_FILE)
        can_resume = resume and isinstance(marker, dict) and marker.get("size") == size
        if not can_resume and isinstance(marker, dict) and marker.get("study") == name:
            # an earlier run of this study at another size (or not to be resumed): clear what it wrote
            output.prepare(folder, {"study": name, "size": size}, resume=False, overwrite=True, same=lambda m: True)
        try:
            result = run_study(study, out=folder, size=size, resume=can_resume, progress=progress)
        except output.FolderError:
            raise
        except (ValueError, OSError, RuntimeError, ArithmeticError, LookupError, TypeError) as error:
            result = StudyResult(name, study.paper, folder, size, [claims_mod.failure(name, study.paper, error)],
                                 wall_time_s=time.perf_counter() - start, link=study.link)
            try:  # the failure is on disk too, listed in run.json so the folder stays the study's own
                output.write_text(folder / claims_mod.CLAIMS_FILE, claims_mod.dumps(result.claims))
                marker = output.read_json(folder / output.RUN_FILE)
                if not isinstance(marker, dict):
                    marker = {"study": name, "paper": study.paper, "size": size, "status": "failed", "files": []}
                marker["files"] = sorted(set(marker.get("files", [])) | {claims_mod.CLAIMS_FILE})
                output.write_json(folder / output.RUN_FILE, marker)
            except OSError:
                pass
        results.append(result)
        passed, total = count_passed(result.claims)
        _log(progress, f"      {passed} of {total} claims pass ({result.wall_time_s:.1f} s)")
    write_report(out, results, size=size)
    return results


def _fmt_seconds(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def _environment_text(r: StudyResult) -> str:
    e = r.environment
    if not e:
        return ""
    return (f"dtype {e.get('dtype', '?')}; {e.get('device_count', '?')} x {e.get('device_kind', '?')} "
            f"({e.get('platform', '?')}), {e.get('process_count', 1)} process(es); overparam "
            f"{e.get('overparam_version', '?')}, jax {e.get('jax_version', '?')}, commit "
            f"{str(e.get('git_commit', ''))[:10] or '-'}")


def _markdown(results: Sequence[StudyResult], size: str | None) -> str:
    claims = [c for r in results for c in r.claims]
    passed, total = count_passed(claims)
    lines = ["# overparam: the seed papers' claims, measured", ""]
    if size:
        lines += [f"Size: `{size}`. {passed} of {total} claims pass.", ""]
    lines += ["## Claims", "", claims_table(claims), "", "## Studies", ""]
    for r in results:
        lines += [f"### {r.name}", ""]
        head = f"{r.paper}" + (f" ([paper]({r.link}))" if r.link else "")
        lines += [f"{head}. Wall time {_fmt_seconds(r.wall_time_s)}. {_environment_text(r)}".strip(), ""]
        if r.datasets:
            lines += ["Data: " + ", ".join(f"[{d}]({r.name}/{d})" for d in r.datasets), ""]
        for f in r.figures:
            links = [f"[SVG]({r.name}/{f['svg']})"] if "svg" in f else []
            links += [f"[data (CSV)]({r.name}/{f['csv']})"] if "csv" in f else []
            lines += [f"![{f['name']}]({r.name}/{f['png']})", "", f"*{f.get('caption') or f['name']}* "
                      + " ".join(links), ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1400px; padding: 0 1em; color: #222; }
table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
tr.pass td.result { background: #d9f2d9; color: #145214; font-weight: bold; }
tr.fail td.result { background: #f8d7da; color: #8a1c24; font-weight: bold; }
.summary { font-size: 1.1em; }
figure { margin: 1.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #ddd; }
figcaption { margin-top: 0.4em; }
.meta { color: #555; font-size: 0.9em; }
"""


def _page(title: str, body: Sequence[str]) -> str:
    return "\n".join(["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
                      f"<title>{html.escape(title)}</title>", f"<style>{_CSS}</style></head><body>", *body,
                      "</body></html>"]) + "\n"


def _claims_html(claims: Sequence[ClaimResult], link: bool) -> list[str]:
    esc = html.escape
    parts = ['<table id="claims"><thead><tr>' + "".join(f"<th>{c}</th>" for c in _COLUMNS) + "</tr></thead><tbody>"]
    for c in claims:
        paper = f'<a href="{esc(c.study)}.html">{esc(c.paper or c.study)}</a>' if link else esc(c.paper or c.study)
        parts.append(f'<tr class="{"pass" if c.passed else "fail"}"><td>{paper}</td><td>{esc(c.claim.statement)}</td>'
                     f"<td>{esc(c.claim.measured_text())}</td><td>{esc(c.claim.expected_text())}</td>"
                     f'<td class="result">{_verdict(c)}</td></tr>')
    parts.append("</tbody></table>")
    return parts


def _study_page(r: StudyResult) -> str:
    esc = html.escape
    passed, total = count_passed(r.claims)
    body = [f"<p><a href=\"{INDEX_HTML}\">all studies</a></p>", f"<h1>{esc(r.name)}</h1>"]
    paper = esc(r.paper or "")
    if r.link:
        paper = f'<a href="{esc(r.link)}">{paper or esc(r.link)}</a>'
    body.append(f"<p>{paper}{': ' if paper and r.description else ''}{esc(r.description)}</p>")
    body.append(f'<p class="summary">{passed} of {total} claims pass. Wall time {_fmt_seconds(r.wall_time_s)}.</p>')
    body.append(f'<p class="meta">{esc(_environment_text(r))}</p>')
    if r.setup.get("settings"):
        body.append('<p class="meta">Settings: ' + esc(", ".join(f"{k}={v}" for k, v in r.setup["settings"].items()))
                    + "</p>")
    body += ["<h2>Claims</h2>", *_claims_html(r.claims, link=False), "<h2>Figures</h2>"]
    if not r.figures:
        body.append("<p>No figures" + (": the study did not complete." if not r.passed else ".") + "</p>")
    for f in r.figures:
        links = [f'<a href="{esc(r.name)}/{esc(f[k])}">{label}</a>' for k, label in (("svg", "SVG"), ("csv", "data (CSV)"))
                 if k in f]
        body.append(f'<figure id="{esc(f["name"])}"><img src="{esc(r.name)}/{esc(f["png"])}" alt="{esc(f["name"])}">'
                    f"<figcaption>{esc(f.get('caption') or f['name'])} {' '.join(links)}</figcaption></figure>")
    if r.datasets:
        body += ["<h2>Data</h2>", "<ul>"] + [f'<li><a href="{esc(r.name)}/{esc(d)}">{esc(d)}</a></li>'
                                              for d in r.datasets] + ["</ul>"]
    return _page(f"overparam: {r.name}", body)


def _index(results: Sequence[StudyResult], size: str | None) -> str:
    esc = html.escape
    claims = [c for r in results for c in r.claims]
    passed, total = count_passed(claims)
    body = ["<h1>overparam: the seed papers' claims, measured</h1>",
            f'<p class="summary" id="summary">{passed} of {total} claims pass'
            + (f" (size <code>{esc(size)}</code>)" if size else "") + ".</p>", "<h2>Studies</h2>", "<ul>"]
    for r in results:
        p, t = count_passed(r.claims)
        body.append(f'<li><a href="{esc(r.name)}.html">{esc(r.name)}</a>: {esc(r.paper)}, {p} of {t} claims pass, '
                    f"{_fmt_seconds(r.wall_time_s)}</li>")
    body += ["</ul>", "<h2>Claims</h2>", *_claims_html(claims, link=True)]
    return _page("overparam report", body)


def write_report(out: str | Path, results: Sequence[StudyResult], *, size: str | None = None) -> tuple[Path, Path]:
    """Write ``report.md``, ``index.html`` and one ``<study>.html`` per study into ``out``; return the first two."""
    out = Path(out)
    md = output.write_text(out / REPORT_MD, _markdown(results, size))
    page = output.write_text(out / INDEX_HTML, _index(results, size))
    pages = [f"{r.name}.html" for r in results]
    for r, name in zip(results, pages):
        output.write_text(out / name, _study_page(r))
    manifest = output.read_json(out / MANIFEST)
    if isinstance(manifest, dict):
        manifest["files"] = sorted(set(manifest.get("files", [])) | set(pages))
        output.write_json(out / MANIFEST, manifest)
    return md, page


def _relative_change(a: float, b: float) -> str:
    if isinstance(a, bool) or isinstance(b, bool):
        return "" if a == b else "changed"
    if not (math.isfinite(a) and math.isfinite(b)):
        return "" if (a == b or (math.isnan(a) and math.isnan(b))) else "changed"
    if a == b:
        return "0"
    return f"{(b - a) / abs(a):+.2%}" if a != 0 else f"{b - a:+.3g}"


def compare_claims(a: str | Path, b: str | Path) -> tuple[str, list[tuple[str, str]]]:
    """The claims of result folders ``a`` and ``b`` side by side; also the regressions.

    Claims are matched by (study, claim name). A regression is a claim that passes in ``a`` and
    fails or is missing in ``b``. Returns ``(table text, [(study, name), ...])``.
    """
    left = {(c.study, c.name): c for c in claims_mod.read(a)}
    right = {(c.study, c.name): c for c in claims_mod.read(b)}
    if not left and not right:
        raise ValueError(f"neither {str(a)!r} nor {str(b)!r} holds claims (claims.json)")
    keys = list(left) + [k for k in right if k not in left]
    header = ("study", "claim", "A", "B", "change", "A result", "B result")
    rows, regressions = [], []
    for key in keys:
        ca, cb = left.get(key), right.get(key)
        va = ", ".join(f"{v:.4g}" if not isinstance(v, bool) else str(v) for v in ca.claim.measured) if ca else "-"
        vb = ", ".join(f"{v:.4g}" if not isinstance(v, bool) else str(v) for v in cb.claim.measured) if cb else "-"
        change = ""
        if ca and cb and len(ca.claim.measured) == len(cb.claim.measured) == 1:
            change = _relative_change(ca.claim.measured[0], cb.claim.measured[0])
        ra = _verdict(ca) if ca else "missing"
        rb = _verdict(cb) if cb else "missing"
        flag = ca is not None and ca.passed and (cb is None or not cb.passed)
        if flag:
            regressions.append(key)
        rows.append([key[0], key[1], va, vb, change, ra, rb + ("  <- regression" if flag else "")])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    line = lambda row: "  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip()  # noqa: E731
    text = "\n".join([f"A = {a}", f"B = {b}", "", line(header), line(["-" * w for w in widths]), *map(line, rows), "",
                      f"{len(regressions)} regression(s): claims that pass in A and fail in B"])
    return text, regressions
