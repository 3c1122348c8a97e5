"""Plant formula bugs one at a time and report which the test suite kills.

    python -m tests.mutation.run [--area sensing|randfeat|bounds ...] [--only NAME ...]
                                 [--no-baseline] [--timeout SECONDS] [--no-write] [--list]

For each mutation of ``tests/mutation/<area>.py`` (``MUTATIONS: list[Mutation]``) the runner

1. copies the working tree (without ``.git``, caches and results) to a temporary folder,
2. replaces the mutation's ``old`` text, which must occur exactly once, by ``new`` there,
3. checks that ``sensing``, ``randfeat``, ``bounds`` and ``overparam`` resolve to the copy and not
   to the editable install (``importlib.util.find_spec(...).origin``, the module's ``__file__``,
   from the copy's root with the interpreter and environment pytest gets),
4. runs ``python -m pytest -x -q -p no:cacheprovider -n 0 <tests>`` from the copy,
5. records ``killed`` (a test failed), ``survived`` (all passed), ``error`` (the mutation did not
   apply, the copy's packages did not shadow the install, or pytest stopped for another reason,
   e.g. a collection error) or ``timeout``, and throws the copy away. The real tree is never
   written, except for ``tests/mutation/RESULTS.md``.

Before an area's mutations, the union of their tests runs once on an unmutated copy (the
baseline): if it fails, every "kill" would be meaningless, so the area is reported as such and
skipped. A full run of an area (no ``--only``) replaces that area's ``## <area>`` section of
``tests/mutation/RESULTS.md``, leaving the other areas' sections as they are.

Not part of the default test run (no ``test_`` file names here).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import fcntl
import importlib
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.mutation.mutation import KINDS, Mutation  # noqa: E402

AREAS: tuple[str, ...] = ("sensing", "randfeat", "bounds")
PACKAGES: tuple[str, ...] = ("sensing", "randfeat", "bounds", "overparam")
RESULTS = ROOT / "tests" / "mutation" / "RESULTS.md"
IGNORE = shutil.ignore_patterns(
    ".git",
    "__pycache__",
    "*.pyc",
    "*.egg-info",
    ".hypothesis",
    ".pytest_cache",
    "*.zarr",
    "*.nc",
    ".venv",
    "build",
    "dist",
    ".ipynb_checkpoints",
)
TOP_LEVEL_IGNORED = ("results", "out", "report")  # the .gitignore'd output folders at the root

_CHECK_SHADOW = """
import importlib.util, json, sys
print(json.dumps({p: (importlib.util.find_spec(p).origin if importlib.util.find_spec(p) else None)
                  for p in sys.argv[1:]}))
"""


class Outcome(NamedTuple):
    """What one mutation (or the baseline, ``mutation=None``) did to the suite."""

    mutation: Mutation | None
    status: str  # "killed" | "survived" | "error" | "timeout" | "passed" | "failed" (baseline)
    seconds: float
    detail: str  # first failing test, or why it is an error


def load_area(area: str) -> list[Mutation]:
    """The ``MUTATIONS`` list of ``tests/mutation/<area>.py``."""
    module = importlib.import_module(f"tests.mutation.{area}")
    mutations = list(module.MUTATIONS)
    for m in mutations:
        if not isinstance(m, Mutation):
            raise TypeError(f"{area}.MUTATIONS holds {type(m).__name__}, not Mutation: {m!r}")
    return mutations


def check(m: Mutation, root: Path = ROOT) -> str | None:
    """Why ``m`` cannot be applied to the tree at ``root``, or ``None`` if it can."""
    path = root / m.file
    if not path.is_file():
        return f"file {m.file!r} does not exist"
    if m.kind not in KINDS:
        return f"kind {m.kind!r} is not one of {KINDS}"
    if m.old == m.new:
        return "old and new are the same"
    if not m.tests:
        return "no tests named"
    count = path.read_text().count(m.old)
    if count != 1:
        return f"old text occurs {count} times in {m.file}, not once"
    for t in m.tests:
        if not (root / t.split("::", 1)[0]).exists():
            return f"test path {t!r} does not exist"
    return None


def _copy_tree(dest: Path) -> Path:
    repo = dest / "repo"

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = set(IGNORE(directory, names))
        if Path(directory).resolve() == ROOT:
            skipped |= {n for n in names if n in TOP_LEVEL_IGNORED}
        return skipped

    shutil.copytree(ROOT, repo, ignore=ignore, symlinks=True)
    return repo


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the copy's root (the cwd) must come first on sys.path
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _verify_shadow(repo: Path) -> str | None:
    """Check that the packages import from ``repo``; return why not, or None."""
    import json

    proc = subprocess.run(
        [sys.executable, "-c", _CHECK_SHADOW, *PACKAGES],
        cwd=repo,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if proc.returncode != 0:
        return f"package lookup failed: {proc.stderr.strip()[-300:]}"
    origins = json.loads(proc.stdout.strip().splitlines()[-1])
    for package, origin in origins.items():
        if origin is None:
            return f"package {package} not found from the copy"
        if not Path(origin).resolve().is_relative_to(repo.resolve()):
            return f"package {package} resolves to {origin}, not to the copy {repo}"
    return None


def _run_pytest(repo: Path, tests: Sequence[str], timeout: float, extra: Sequence[str]) -> tuple[int | None, str]:
    """Run pytest in ``repo``; return (exit code or None on timeout, combined output)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-n", "0", *extra, *tests]
    proc = subprocess.Popen(
        cmd,
        cwd=repo,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a timeout ends it and its children
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


def _first_failure(output: str) -> str:
    for line in output.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            return line.split(" ", 1)[1].split(" - ", 1)[0].strip()
    tail = [ln for ln in output.strip().splitlines() if ln.strip()]
    return tail[-1][:200] if tail else ""


def run_one(m: Mutation | None, tests: Sequence[str], timeout: float, extra: Sequence[str]) -> Outcome:
    """Apply ``m`` (None: nothing, the baseline) to a fresh copy and run ``tests`` there."""
    start = time.perf_counter()
    if m is not None:
        why = check(m)
        if why is not None:
            return Outcome(m, "error", 0.0, why)
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        repo = _copy_tree(Path(tmp))
        if m is not None:
            path = repo / m.file
            source = path.read_text()
            mutated = source.replace(m.old, m.new, 1)
            if path.suffix == ".py":
                try:
                    compile(mutated, str(path), "exec")
                except SyntaxError as e:
                    return Outcome(m, "error", time.perf_counter() - start, f"mutated file does not compile: {e}")
            path.write_text(mutated)
        why = _verify_shadow(repo)
        if why is not None:
            return Outcome(m, "error", time.perf_counter() - start, why)
        rc, out = _run_pytest(repo, tests, timeout, extra)
    seconds = time.perf_counter() - start
    if rc is None:
        return Outcome(m, "timeout", seconds, f"pytest ran past {timeout:.0f} s")
    if m is None:
        return Outcome(None, "passed" if rc == 0 else "failed", seconds, "" if rc == 0 else _first_failure(out))
    if rc == 0:
        return Outcome(m, "survived", seconds, "")
    if rc == 1:
        return Outcome(m, "killed", seconds, _first_failure(out))
    return Outcome(m, "error", seconds, f"pytest exit code {rc}: {_first_failure(out)}")


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def provenance() -> dict[str, str]:
    """Date, commit and machine facts for the results file."""
    commit = _git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = [ln[3:] for ln in _git("status", "--porcelain", "--untracked-files=no").splitlines() if ln.strip()]
    try:
        import jax

        jax_version = jax.__version__
    except ImportError:  # pragma: no cover
        jax_version = "not installed"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return {
        "date": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "commit": commit + (f" with uncommitted changes in {len(dirty)} tracked files" if dirty else ""),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"python {platform.python_version()}, jax {jax_version}, load average {load} at the start",
    }


def format_section(area: str, baseline: Outcome | None, outcomes: Sequence[Outcome], facts: dict[str, str]) -> str:
    """The ``## <area>`` section of RESULTS.md."""
    counts = {s: sum(o.status == s for o in outcomes) for s in ("killed", "survived", "error", "timeout")}
    lines = [
        f"## {area}",
        "",
        f"- date: {facts['date']}",
        f"- commit: {facts['commit']}",
        f"- machine: {facts['machine']}",
        "- baseline (the named tests on the unmutated tree): "
        + ("skipped" if baseline is None else f"{baseline.status} in {baseline.seconds:.0f} s"),
        f"- result: {counts['killed']} of {len(outcomes)} killed, {counts['survived']} survived, "
        f"{counts['error']} error, {counts['timeout']} timeout",
        "",
        "| mutation | kind | file | result | time (s) | killed by / detail |",
        "|---|---|---|---|---:|---|",
    ]
    for o in outcomes:
        m = o.mutation
        assert m is not None
        detail = o.detail.replace("|", "\\|")
        lines.append(f"| `{m.name}` | {m.kind} | `{m.file}` | {o.status} | {o.seconds:.0f} | {detail} |")
    return "\n".join(lines) + "\n"


HEADER = (
    "# Mutation results\n\n"
    "Written by `python -m tests.mutation.run --area <area>`: each formula bug of "
    "`tests/mutation/<area>.py` planted alone in a copy of the tree, and the tests it names run "
    "there (`pytest -x`). killed: a test failed; survived: all passed (a missing test). Each area's "
    "section is replaced by that area's last full run.\n"
)


def write_section(area: str, section: str, path: Path = RESULTS) -> None:
    """Replace (or append) the ``## <area>`` section of ``path``, under a file lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    with os.fdopen(fd, "r+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        text = f.read()
        if not text.strip():
            text = HEADER
        parts = re.split(r"(?m)^(?=## )", text)
        head, sections = parts[0], parts[1:]
        names = [s.splitlines()[0][3:].strip() for s in sections]
        if area in names:
            sections[names.index(area)] = section
        else:
            sections.append(section)
        sections = [s if s.endswith("\n\n") else s.rstrip("\n") + "\n\n" for s in sections]
        new = head.rstrip("\n") + "\n\n" + "".join(sections).rstrip("\n") + "\n"
        f.seek(0)
        f.truncate()
        f.write(new)
        f.flush()
        fcntl.flock(f, fcntl.LOCK_UN)


def _print_row(o: Outcome) -> None:
    name = "(baseline)" if o.mutation is None else o.mutation.name
    print(f"{name:48s} {o.status:9s} {o.seconds:7.1f} s  {o.detail}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.mutation.run", description=__doc__.splitlines()[0])
    parser.add_argument("--area", action="append", choices=AREAS, help="area(s) to run (default: all that exist)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these mutations")
    parser.add_argument("--no-baseline", action="store_true", help="skip the unmutated run of the tests")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds per pytest run (default 900)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    parser.add_argument("--list", action="store_true", help="list the mutations and whether they apply")
    parser.add_argument("--pytest-arg", action="append", default=[], metavar="ARG", help="extra pytest argument")
    args = parser.parse_args(argv)

    areas = args.area or [a for a in AREAS if (ROOT / "tests" / "mutation" / f"{a}.py").exists()]
    tables = {a: load_area(a) for a in areas}
    for a, ms in tables.items():
        names = [m.name for m in ms]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            parser.error(f"area {a}: duplicate mutation names {duplicates}")
    unknown = set(args.only) - {m.name for ms in tables.values() for m in ms}
    if unknown:
        parser.error(f"--only: no mutation named {sorted(unknown)} in areas {areas}")

    if args.list:
        for a, ms in tables.items():
            for m in ms:
                print(f"{a:9s} {m.name:48s} {m.kind:10s} {m.file:28s} {check(m) or 'ok'}")
        return 0

    facts = provenance()
    print(f"{facts['date']}; commit {facts['commit']}; {facts['machine']}", flush=True)
    any_bad = False
    for area, mutations in tables.items():
        selected = [m for m in mutations if not args.only or m.name in args.only]
        if not selected:
            continue
        print(f"\n## {area}: {len(selected)} mutations", flush=True)
        baseline = None
        if not args.no_baseline:
            tests = list(dict.fromkeys(t for m in selected for t in m.tests))
            baseline = run_one(None, tests, args.timeout, args.pytest_arg)
            _print_row(baseline)
            if baseline.status != "passed":
                print(f"baseline {baseline.status}: the named tests fail on the unmutated tree; {area} skipped")
                any_bad = True
                continue
        outcomes = []
        for m in selected:
            o = run_one(m, m.tests, args.timeout, args.pytest_arg)
            _print_row(o)
            outcomes.append(o)
        killed = sum(o.status == "killed" for o in outcomes)
        print(f"{area}: {killed} of {len(outcomes)} killed", flush=True)
        any_bad |= killed != len(outcomes)
        if not args.only and not args.no_write:
            write_section(area, format_section(area, baseline, outcomes, facts))
            print(f"wrote the {area} section of {RESULTS.relative_to(ROOT)}", flush=True)
    return 1 if any_bad else 0


if __name__ == "__main__":
    sys.exit(main())
