"""The ``overparam`` command: run a study (built-in or one's own), list, show, compare, reproduce.

    overparam run STUDY [--size quick|paper] [--out DIR] [--set NAME=V1,V2,...] [--chunk-size C]
                        [--devices N] [--resume | --overwrite] [--dry-run] [--no-progress]
                        [--distributed | --coordinator HOST:PORT --num-processes N --process-id I]
    overparam list
    overparam show DIR
    overparam compare DIR_A DIR_B
    overparam reproduce [--quick] [--out DIR] [--resume | --overwrite] [--no-progress]
    overparam falsify MODULE:MARGIN [--param NAME=LO:HI[:log|:int]] [--budget N] [--out DIR]

``STUDY`` is a built-in name, ``path/to/file.py[:NAME]`` or ``package.module:NAME``
(docs/studies.md#running-a-study). Exit status: 0 when every claim passes, 1 when one fails (for
``compare``: when a claim that passes in A fails in B), 2 on bad input or a folder that cannot be
used (one line on stderr, nothing computed or written), 130 after an interruption (finished
chunks are kept; ``--resume`` continues).

Before JAX starts, the command makes one CPU device per core (so sweeps use every core; a sweep
with batched LAPACK calls uses at most half of them, see :mod:`overparam.sweep.lapack`; results do
not depend on the device count) and disables XLA:CPU's concurrency-optimised scheduler, under
which concurrent batched LAPACK calls can deadlock (docs/architecture.md#known-xla-cpu-deadlock).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from overparam import runtime

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


class BadInput(Exception):
    """Invalid command-line input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, no usage block
        raise BadInput(message)


def _add_distributed(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("several processes (jax.distributed)")
    g.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() (detects SLURM, Open MPI and TPU pods)")
    g.add_argument("--coordinator", default=None, metavar="HOST:PORT", help="coordinator address of process 0")
    g.add_argument("--num-processes", type=int, default=None, metavar="N")
    g.add_argument("--process-id", type=int, default=None, metavar="I")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="overparam", description="Run studies of over-parameterised learning: sweeps, figures, claims.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run one study into a result folder")
    r.add_argument("study", help="a built-in name (`overparam list`), path/to/file.py[:NAME] or module:NAME")
    r.add_argument("--size", choices=("quick", "paper"), default="quick")
    r.add_argument("--out", type=Path, default=None, help="result folder (default results/STUDY)")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="NAME=V1,V2,...",
                   help="replace a grid axis's values or a setting's value (repeatable)")
    r.add_argument("--chunk-size", type=int, default=None, metavar="C", help="runs per compiled chunk")
    r.add_argument("--devices", type=int, default=None, metavar="N", help="number of local devices to use")
    mode = r.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="continue an earlier run in --out, keeping its chunks")
    mode.add_argument("--overwrite", action="store_true", help="remove an earlier run's files in --out first")
    r.add_argument("--no-progress", action="store_true")
    r.add_argument("--dry-run", action="store_true",
                   help="validate, print the grid, the settings and a run-time estimate from one compiled chunk")
    _add_distributed(r)
    sub.add_parser("list", help="list the studies (built-in and installed)")
    s = sub.add_parser("show", help="print what a result folder holds and its claims table")
    s.add_argument("dir", type=Path)
    c = sub.add_parser("compare", help="the claims of two result folders side by side")
    c.add_argument("a", type=Path)
    c.add_argument("b", type=Path)
    rp = sub.add_parser("reproduce", help="run every built-in study and write report.md and index.html")
    rp.add_argument("--quick", action="store_true", help="quick size instead of the paper's")
    rp.add_argument("--out", type=Path, default=Path("results"))
    mode = rp.add_mutually_exclusive_group()
    mode.add_argument("--resume", action="store_true", help="keep the studies that completed and resume the others")
    mode.add_argument("--overwrite", action="store_true", help="remove an earlier reproduction's files in --out first")
    rp.add_argument("--no-progress", action="store_true")
    try:
        from overparam.falsify import command as falsify_command
    except ImportError:
        falsify_command = None
    if falsify_command is not None:
        falsify_command.add_parser(sub)
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


def parse_overrides(items: Sequence[str], axes: Sequence[str], settings: Sequence[str] = ()) -> dict[str, Any]:
    """``["rank=1,3", "steps=500"]`` -> ``{"rank": [1, 3], "steps": "500"}``, names checked.

    Axis values are parsed as numbers; a setting's value is passed on as text and checked (and
    converted) by the study's :class:`~overparam.study.Setting`.
    """
    out: dict[str, Any] = {}
    for item in items:
        name, sep, values = item.partition("=")
        name = name.strip()
        if not sep or not name:
            raise BadInput(f"--set {item!r} must look like name=v1,v2,...")
        if name not in axes and name not in settings:
            known = ", ".join(list(axes) + list(settings))
            raise BadInput(f"--set: unknown axis or setting {name!r}; this study has {known}")
        if name in out:
            raise BadInput(f"--set {name} is given twice")
        if name in settings:
            if not values.strip():
                raise BadInput(f"--set {name}= has no value")
            out[name] = values.strip()
            continue
        parts = values.split(",")
        if not values.strip() or any(not v.strip() for v in parts):
            raise BadInput(f"--set {name}= has no values" if not values.strip() else f"--set {item!r} has an empty value")
        out[name] = [parse_number(v) for v in parts]
    return out


def _progress(no_progress: bool) -> bool:
    return not no_progress


def _start_jax(args: argparse.Namespace) -> None:
    """Configure and start JAX: devices per core, the scheduler workaround, jax.distributed."""
    distributed = getattr(args, "distributed", False) or getattr(args, "coordinator", None) is not None
    if getattr(args, "coordinator", None) is not None and (args.num_processes is None or args.process_id is None):
        raise BadInput("--coordinator needs --num-processes and --process-id")
    if (getattr(args, "num_processes", None) is not None or getattr(args, "process_id", None) is not None) and \
            getattr(args, "coordinator", None) is None:
        raise BadInput("--num-processes and --process-id need --coordinator HOST:PORT")
    runtime.configure(distributed=distributed)
    if distributed:
        import jax

        kwargs: dict[str, Any] = {}
        if args.coordinator is not None:
            if args.num_processes < 1 or not 0 <= args.process_id < args.num_processes:
                raise BadInput(f"--process-id {args.process_id} must lie in [0, --num-processes {args.num_processes})")
            kwargs = {"coordinator_address": args.coordinator, "num_processes": args.num_processes,
                      "process_id": args.process_id}
        try:
            jax.distributed.initialize(**kwargs)
        except (RuntimeError, ValueError) as error:
            raise BadInput(f"jax.distributed.initialize failed: {' '.join(str(error).split())[:300]}") from None


def _print_plan(study: Any, setup: Any, estimate: dict[str, Any] | None) -> None:
    print(f"{study.name} ({study.paper or 'no paper'}), size {setup.size}, dtype {study.dtype}:")
    if setup.settings:
        print("  settings: " + ", ".join(f"{k}={v}" for k, v in setup.settings.items()))
    for sweep_name, grid in setup.grids.items():
        runs = 1
        for v in grid.values():
            runs *= len(v)
        print(f"  sweep {sweep_name}: {runs} runs")
        for name, values in grid.items():
            shown = [f"{v:g}" for v in values]
            if len(shown) > 12:
                shown = shown[:5] + ["..."] + shown[-2:]
            print(f"    {name} ({len(values)}): {', '.join(shown)}")
        if estimate and sweep_name in estimate:
            e = estimate[sweep_name]
            print(f"    estimate: {e['chunks']} chunks of {e['chunk_size']} runs; compile {e['compile_s']:.1f} s, "
                  f"{e['chunk_s']:.2f} s per chunk; about {e['total_s']:.0f} s in all")
    for name in study.sweeps:
        if name not in setup.grids:
            print(f"  computation {name}")


def cmd_run(args: argparse.Namespace) -> int:
    _start_jax(args)
    from overparam import study as st
    from overparam.study import estimate

    study = st.load_study(args.study)
    overrides = parse_overrides(args.overrides, list(study.axes), list(study.settings))
    setup = study.plan(args.size, overrides)
    devices = st.resolve_devices(args.devices)
    if args.chunk_size is not None and args.chunk_size < 1:
        raise BadInput(f"--chunk-size {args.chunk_size} must be >= 1")
    if args.dry_run:
        with st.precision(study.dtype):
            guess = estimate.estimate(study, setup, devices=devices, chunk_size=args.chunk_size)
        _print_plan(study, setup, guess)
        return 0
    out = args.out if args.out is not None else Path("results") / study.name
    import jax

    result = st.run_study(study, out=out, size=args.size, overrides=overrides, resume=args.resume,
                          overwrite=args.overwrite, progress=_progress(args.no_progress), devices=args.devices,
                          chunk_size=args.chunk_size, source=args.study)
    if jax.process_index() != 0:
        return 0
    print(f"{study.name} ({study.paper or 'no paper'}), size {args.size}, {result.wall_time_s:.1f} s -> {out}")
    if result.claims:
        from overparam.report import claims_table

        print(claims_table(result.claims))
    return 0 if result.passed else EXIT_FAILED


def cmd_list(args: argparse.Namespace) -> int:
    from overparam.study import builtin_studies, installed_studies

    builtin = builtin_studies()
    installed = {k: v for k, v in installed_studies().items() if k not in builtin}
    rows = [(n, s, "") for n, s in builtin.items()] + [(n, s, " [installed]") for n, s in installed.items()]
    width = max((len(n) for n, _, _ in rows), default=0)
    for name, study, tag in rows:
        print(f"{name.ljust(width)}  {study.paper or '-'}: {study.description}{tag}")
    return 0


def _describe_store(path: Path) -> str:
    from overparam import store

    report = store.verify(path)  # checks every finished chunk; never raises on a damaged one

    def listed(chunks: Sequence[int]) -> str:
        return ", ".join(map(str, chunks[:10])) + (f" and {len(chunks) - 10} more" if len(chunks) > 10 else "")

    dims = ", ".join(f"{d}={n}" for d, n in report.sizes.items())
    parts = []
    if report.damaged:
        parts.append(f"chunk(s) {listed(report.damaged)} damaged")
    if report.missing:
        parts.append(f"chunk(s) {listed(report.missing)} missing")
    if parts:
        state = f"DAMAGED: {' and '.join(parts)} ({report.finished} of {report.total} chunks intact); " \
                "run again with --resume to recompute them"
    elif report.complete:
        state = "complete"
    else:
        state = f"UNFINISHED ({report.finished} of {report.total} chunks; run again with --resume)"
    return f"{path.name}/  sweep store, {state}; dims {dims}; variables {', '.join(report.variables)}"


def cmd_show(args: argparse.Namespace) -> int:
    out: Path = args.dir
    if not out.is_dir():
        raise BadInput(f"{str(out)!r} is not a folder")
    from overparam import store
    from overparam.study import output

    lines = []
    info = output.read_json(out / output.RUN_FILE)
    if isinstance(info, dict):
        lines.append(f"{info.get('study')} ({info.get('paper') or 'no paper'}), size {info.get('size')}, "
                     f"{info.get('status', '?')}, {info.get('wall_time_s', 0):.1f} s, "
                     f"dtype {info.get('dtype', '?')}, commit {str(info.get('git_commit', ''))[:10] or '-'}")
    for root, dirs, files in os.walk(out):
        base = Path(root)
        for d in sorted(dirs):
            if store.is_store(base / d):
                try:
                    text = _describe_store(base / d)
                except Exception as error:  # noqa: BLE001 - a damaged store is reported, not a crash
                    text = f"{d}/  sweep store, UNREADABLE ({type(error).__name__}: {' '.join(str(error).split())[:200]})"
                lines.append(text.replace(d, str((base / d).relative_to(out)), 1))
        dirs[:] = sorted(d for d in dirs if not store.is_store(base / d) and not d.startswith("."))
        for f in sorted(files):
            if f.startswith("."):
                continue
            path = base / f
            kind = {".png": "figure", ".svg": "figure", ".csv": "figure data", ".nc": "netCDF dataset",
                    ".json": "json", ".md": "report", ".html": "report"}.get(path.suffix, "file")
            lines.append(f"{path.relative_to(out)}  {kind}, {path.stat().st_size} bytes")
    if not lines:
        raise BadInput(f"{str(out)!r} holds no results")
    print("\n".join(lines))
    from overparam.study import claims as claims_mod

    claims = claims_mod.read(out)
    if claims:
        from overparam.report import claims_table

        print()
        print(claims_table(claims))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from overparam.report import compare_claims

    for d in (args.a, args.b):
        if not d.is_dir():
            raise BadInput(f"{str(d)!r} is not a folder")
    text, regressions = compare_claims(args.a, args.b)
    print(text)
    return EXIT_FAILED if regressions else 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    runtime.configure()
    from overparam.report import reproduce

    results = reproduce(out=args.out, size="quick" if args.quick else "paper", progress=_progress(args.no_progress),
                        resume=args.resume, overwrite=args.overwrite)
    failed = [c for r in results for c in r.claims if not c.passed]
    total = sum(len(r.claims) for r in results)
    print(f"{total - len(failed)} of {total} claims pass; report in {args.out / 'report.md'}")
    return 0 if not failed else EXIT_FAILED


def cmd_falsify(args: argparse.Namespace) -> int:
    runtime.configure()
    from overparam.falsify import command

    return command.run(args)


COMMANDS = {"run": cmd_run, "list": cmd_list, "show": cmd_show, "compare": cmd_compare,
            "reproduce": cmd_reproduce, "falsify": cmd_falsify}


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``overparam`` command; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (BadInput, ValueError) as error:
        print(f"overparam: error: {_one_line(error)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except OSError as error:  # a full disk, a folder that cannot be written: one line, nothing half-written
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        print(f"overparam: error: {error.strerror or _one_line(error)}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as error:
        message = _one_line(error) if str(error) else "interrupted; run the same command again with --resume"
        print(f"overparam: stopped: {message}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        from overparam import sweep

        if isinstance(error, getattr(sweep, "Interrupted", ())):
            print(f"overparam: stopped: {_one_line(error)}", file=sys.stderr)
            return EXIT_INTERRUPTED
        raise


if __name__ == "__main__":
    sys.exit(main())
