"""The ``overparam`` command: run, list and show studies, and reproduce every paper claim.

    overparam run STUDY [--size quick|paper] [--out DIR] [--set axis=v1,v2,...] [--resume]
                        [--devices N] [--no-progress] [--dry-run]
    overparam list
    overparam show DIR
    overparam reproduce [--quick] [--out DIR] [--resume] [--no-progress]

Bad input (unknown study or axis, empty or non-numeric values, an output folder holding something
else) prints one line on stderr and exits with status 2. ``run`` and ``reproduce`` exit with 1
when a claim fails and 0 when all pass.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

RUN_FILE = "run.json"
EXIT_BAD_INPUT = 2


class BadInput(Exception):
    """Invalid command-line input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        raise BadInput(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="overparam", description="Run the overparam studies: sweeps, figures and checked claims.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run one study into a result folder")
    r.add_argument("study", help="study name (see `overparam list`)")
    r.add_argument("--size", choices=("quick", "paper"), default="quick")
    r.add_argument("--out", type=Path, default=None, help="result folder (default results/STUDY)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="AXIS=V1,V2,...",
                   help="replace the values of one grid axis (repeatable)")
    r.add_argument("--resume", action="store_true", help="continue an interrupted run, skipping finished chunks")
    r.add_argument("--devices", type=int, default=None, metavar="N", help="number of devices to use")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--dry-run", action="store_true",
                   help="check the study, size and --set values and print the grid; compute and write nothing")
    sub.add_parser("list", help="list the studies")
    s = sub.add_parser("show", help="print what a result folder holds and its claims table")
    s.add_argument("dir", type=Path)
    rp = sub.add_parser("reproduce", help="run every study and write report.md and index.html")
    rp.add_argument("--quick", action="store_true", help="quick size instead of the paper's")
    rp.add_argument("--out", type=Path, default=Path("results"))
    rp.add_argument("--resume", action="store_true",
                    help="keep the studies that completed in --out and resume the others")
    rp.add_argument("--no-progress", action="store_true")
    return p


def parse_number(text: str) -> int | float:
    """``"3"`` -> 3, ``"1e-3"`` -> 0.001; anything else (or non-finite) raises BadInput."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"value {text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadInput(f"value {text!r} is not a finite number")
    return value


def parse_overrides(items: Sequence[str], axes: Sequence[str]) -> dict[str, list[int | float]]:
    """``["rank=1,3", "seed=0"]`` -> ``{"rank": [1, 3], "seed": [0]}``, checked against the study's axes."""
    out: dict[str, list[int | float]] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise BadInput(f"--set {item!r} must look like axis=v1,v2,...")
        if name not in axes:
            raise BadInput(f"--set: unknown axis {name!r}; this study's axes are {', '.join(axes)}")
        parts = [v for v in values.split(",") if v.strip()]
        if not parts:
            raise BadInput(f"--set {name}= has no values")
        out[name] = [parse_number(v) for v in parts]
    return out


def _setup_devices(n: int | None) -> None:
    """Enable float64; with ``n``, use ``n`` devices (CPU: ``jax_num_cpu_devices``; GPU: the first ``n``)."""
    if n is not None:
        if n < 1:
            raise BadInput(f"--devices {n} must be >= 1")
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", ",".join(str(i) for i in range(n)))
    import jax

    if n is not None:
        jax.config.update("jax_num_cpu_devices", n)
    jax.config.update("jax_enable_x64", True)


def _progress(no_progress: bool) -> bool:
    return not no_progress and sys.stderr.isatty()


def _check_out(out: Path, study: str) -> None:
    """``out`` may be new, empty, or a previous result folder of ``study``; anything else is refused."""
    if not out.exists():
        return
    if not out.is_dir():
        raise BadInput(f"--out {str(out)!r} is a file, not a folder")
    if not any(out.iterdir()):
        return
    marker = out / RUN_FILE
    try:
        previous = json.loads(marker.read_text()).get("study") if marker.is_file() else None
    except (OSError, ValueError):
        previous = None
    if previous != study:
        raise BadInput(f"--out {str(out)!r} holds something else (not a result of {study!r}); choose another folder")


def _claims_table(out: Path) -> str | None:
    from overparam.studies import read_claims

    claims = read_claims(out)
    if not claims:
        return None
    try:
        from overparam.report import claims_table
    except ImportError:
        return "\n".join(f"[{'PASS' if c.passed else 'FAIL'}] {c.claim}: {c.measured} (expected {c.expected})"
                         for c in claims)
    return claims_table(claims)


def cmd_run(args: argparse.Namespace) -> int:
    _setup_devices(args.devices)
    from overparam.studies import registry

    studies = registry()
    if args.study not in studies:
        raise BadInput(f"unknown study {args.study!r}; available: {', '.join(studies)}")
    study = studies[args.study]
    overrides = parse_overrides(args.overrides, list(study.axes(args.size)))
    grid = getattr(study, "grid", None)
    axes = grid(args.size, overrides or None) if grid is not None else study.axes(args.size)
    if args.dry_run:
        print(f"{study.name} ({study.paper}), size {args.size}:")
        for name, values in axes.items():
            shown = [f"{v:g}" for v in values]
            if len(shown) > 12:
                shown = shown[:5] + ["..."] + shown[-2:]
            print(f"  {name} ({len(values)}): {', '.join(shown)}")
        return 0
    out = args.out if args.out is not None else Path("results") / study.name
    _check_out(out, study.name)
    out.mkdir(parents=True, exist_ok=True)
    # mark the folder first, so an interrupted run can be resumed into it
    marker = {"study": study.name, "paper": study.paper, "size": args.size, "overrides": overrides,
              "status": "running"}
    (out / RUN_FILE).write_text(json.dumps(marker, indent=2) + "\n")
    start = time.perf_counter()
    result = study.run(size=args.size, out=out, overrides=overrides or None, resume=args.resume,
                       progress=_progress(args.no_progress))
    wall = time.perf_counter() - start
    from overparam.meta import run_metadata

    record: dict[str, Any] = {**marker, "status": "finished", "wall_time_s": wall,
                              "claims_passed": sum(c.passed for c in result.claims),
                              "claims_total": len(result.claims), **run_metadata()}
    (out / RUN_FILE).write_text(json.dumps(record, indent=2) + "\n")
    print(f"{study.name} ({study.paper}), size {args.size}, {wall:.1f} s -> {out}")
    table = _claims_table(out)
    if table:
        print(table)
    return 0 if result.passed else 1


def cmd_list(args: argparse.Namespace) -> int:
    from overparam.studies import registry

    studies = registry()
    width = max((len(n) for n in studies), default=0)
    for name, study in studies.items():
        print(f"{name.ljust(width)}  {study.paper}: {study.description}")
    return 0


def _describe_store(path: Path) -> str:
    from overparam import store

    done, total = store.completion(path)
    ds = store.load(path, allow_partial=True)
    dims = ", ".join(f"{d}={n}" for d, n in ds.sizes.items())
    state = "complete" if done == total else f"UNFINISHED ({done} of {total} chunks; run again with --resume)"
    return f"{path.name}/  sweep store, {state}; dims {dims}; variables {', '.join(ds.data_vars)}"


def cmd_show(args: argparse.Namespace) -> int:
    out: Path = args.dir
    if not out.is_dir():
        raise BadInput(f"{str(out)!r} is not a folder")
    from overparam import store

    lines = []
    marker = out / RUN_FILE
    if marker.is_file():
        info = json.loads(marker.read_text())
        lines.append(f"{info.get('study')} ({info.get('paper')}), size {info.get('size')}, "
                     f"{info.get('wall_time_s', 0):.1f} s, commit {info.get('git_commit', '')[:10] or '-'}")
    for root, dirs, files in os.walk(out):
        base = Path(root)
        for d in sorted(dirs):
            if store.is_store(base / d):
                lines.append(_describe_store(base / d).replace(d, str((base / d).relative_to(out)), 1))
        dirs[:] = sorted(d for d in dirs if not store.is_store(base / d))  # do not list a store's chunk files
        for f in sorted(files):
            path = base / f
            kind = {".png": "figure", ".svg": "figure", ".nc": "netCDF dataset", ".json": "json",
                    ".md": "report", ".html": "report"}.get(path.suffix, "file")
            lines.append(f"{path.relative_to(out)}  {kind}, {path.stat().st_size} bytes")
    if not lines:
        raise BadInput(f"{str(out)!r} holds no results")
    print("\n".join(lines))
    table = _claims_table(out)
    if table:
        print()
        print(table)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    _setup_devices(None)
    try:
        from overparam.report import reproduce
    except ImportError:
        print("overparam: error: overparam.report.reproduce is not available in this installation", file=sys.stderr)
        return EXIT_BAD_INPUT
    results = reproduce(out=args.out, size="quick" if args.quick else "paper", progress=_progress(args.no_progress),
                        resume=args.resume)
    failed = [c for r in results for c in r.claims if not c.passed]
    total = sum(len(r.claims) for r in results)
    print(f"{total - len(failed)} of {total} claims pass; report in {args.out / 'report.md'}")
    return 0 if not failed else 1


COMMANDS = {"run": cmd_run, "list": cmd_list, "show": cmd_show, "reproduce": cmd_reproduce}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``overparam`` command; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (BadInput, ValueError) as error:
        message = " ".join(str(error).split())
        print(f"overparam: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
