"""``overparam falsify``: search a margin function of a module for counterexamples from the command line.

    overparam falsify MODULE:MARGIN [--param NAME=LO:HI[:log|:int] | NAME=V1,V2,...] [--budget N]
                      [--seed S] [--out DIR] [--resume] [--no-progress]

``MODULE`` is a dotted module name (``overparam.falsify.gallery``) or a path to a ``.py`` file;
``MARGIN`` names a function of it, ``params -> scalar``, ``>= 0`` where the conjecture holds. The
space is the margin's ``.space`` attribute, else the module's ``SPACE``, updated by every
``--param``: ``x=0:1`` a real interval, ``x=1e-6:1:log`` on a log scale, ``n=1:64:int`` the
integers ``1..64``, ``r=0.5,1,2`` a finite choice. With ``--out`` the search keeps its sweep
stores there (``--resume`` continues an interrupted one) and writes ``result.json``.

Exit status: 1 when a counterexample is found (printed), 0 when none is within the budget, 2 on
bad input (a ``ValueError``, printed as one line).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

from overparam.falsify.space import Axis, Choice, Integer, Real

__all__ = ["add_parser", "main", "parse_param", "run"]

DEFAULT_BUDGET = 10_000
EXIT_NONE, EXIT_FOUND, EXIT_BAD_INPUT = 0, 1, 2
RESULT_FILE = "result.json"


def add_parser(subparsers: Any) -> None:
    """Add the ``falsify`` subcommand to an ``argparse`` subparsers object (``run`` executes it)."""
    p = subparsers.add_parser("falsify", help="search a conjecture (a margin function) for counterexamples",
                              description="Search MODULE:MARGIN for a point where the margin is < 0.")
    p.add_argument("target", metavar="MODULE:MARGIN", help="dotted module or path.py, and the margin's name")
    p.add_argument("--param", dest="params", action="append", default=[], metavar="NAME=LO:HI[:log|:int]",
                   help="one axis of the space (repeatable): NAME=LO:HI, NAME=LO:HI:log, NAME=LO:HI:int or "
                        "NAME=V1,V2,... (a choice); replaces the module's axis of that name")
    p.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help=f"margin evaluations (default {DEFAULT_BUDGET})")
    p.add_argument("--seed", type=int, default=0, help="seed of the search's key (default 0)")
    p.add_argument("--out", type=Path, default=None, help="folder for the sweep stores and result.json")
    p.add_argument("--resume", action="store_true", help="continue an interrupted search in --out")
    p.add_argument("--no-progress", action="store_true")


def _number(text: str, what: str) -> float | int:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what}: {text!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{what}: {text!r} is not a finite number")
    return value


def parse_param(text: str) -> tuple[str, Axis]:
    """``"x=0:1"`` -> ``("x", Real(0, 1))``; ``":log"`` a log scale, ``":int"`` integers, ``"a,b,c"`` a choice."""
    if "=" not in text:
        raise ValueError(f"--param {text!r} must look like NAME=LO:HI[:log|:int] or NAME=V1,V2,...")
    name, _, spec = text.partition("=")
    name = name.strip()
    if not name.isidentifier():
        raise ValueError(f"--param {text!r}: {name!r} is not a parameter name")
    what = f"--param {text!r}"
    if ":" not in spec:
        values = [_number(v, what) for v in spec.split(",") if v.strip()]
        if not values:
            raise ValueError(f"{what} gives no values")
        return name, Choice(tuple(values))
    parts = spec.split(":")
    kind = parts[2].strip() if len(parts) == 3 else "" if len(parts) == 2 else None
    if kind not in ("", "log", "int"):
        raise ValueError(f"{what} must look like NAME=LO:HI, NAME=LO:HI:log or NAME=LO:HI:int")
    lo, hi = _number(parts[0], what), _number(parts[1], what)
    if kind == "int":
        if not (isinstance(lo, int) and isinstance(hi, int)):
            raise ValueError(f"{what}: the ends of an :int range must be integers")
        return name, Integer(lo, hi)
    return name, Real(float(lo), float(hi), log=kind == "log")


def _load_module(spec: str) -> ModuleType:
    if spec.endswith(".py") or "/" in spec or "\\" in spec:
        path = Path(spec)
        if not path.is_file():
            raise ValueError(f"module file {spec!r} does not exist")
        name = f"overparam_falsify_target_{abs(hash(str(path.resolve())))}"
        loader = importlib.util.spec_from_file_location(name, path)
        if loader is None or loader.loader is None:
            raise ValueError(f"cannot load {spec!r} as a Python module")
        module = importlib.util.module_from_spec(loader)
        sys.modules[name] = module
        loader.loader.exec_module(module)
        return module
    try:
        return importlib.import_module(spec)
    except ImportError as error:
        raise ValueError(f"cannot import module {spec!r}: {error}") from None


def resolve(target: str, params: Sequence[str]) -> tuple[Any, dict[str, Axis]]:
    """The margin named by ``MODULE:MARGIN`` and its space (default space updated by ``params``)."""
    module_spec, sep, attr = target.rpartition(":")
    if not sep or not module_spec or not attr:
        raise ValueError(f"target {target!r} must look like MODULE:MARGIN (a dotted module or path.py, then a name)")
    module = _load_module(module_spec)
    margin = getattr(module, attr, None)
    if margin is None:
        raise ValueError(f"module {module_spec!r} has no attribute {attr!r}")
    if not callable(margin):
        raise ValueError(f"{target!r} is not callable")
    default = getattr(margin, "space", None)
    if default is None:
        default = getattr(module, "SPACE", None)
    if default is not None and not isinstance(default, Mapping):
        raise ValueError(f"the default space of {target!r} must be a mapping name -> Real | Integer | Choice")
    space = dict(default or {})
    for text in params:
        name, axis = parse_param(text)
        space[name] = axis
    if not space:
        raise ValueError(f"{target!r} has no space: give --param NAME=LO:HI (or define SPACE or margin.space)")
    return margin, space


def run(args: argparse.Namespace) -> int:
    """Execute ``overparam falsify``; return 1 when a counterexample is found, 0 when none (ValueError on bad input)."""
    import jax

    jax.config.update("jax_enable_x64", True)
    from overparam.falsify.search import falsify

    if args.budget < 1:
        raise ValueError(f"--budget {args.budget} must be >= 1")
    if args.resume and args.out is None:
        raise ValueError("--resume needs --out DIR (the folder of the interrupted search)")
    margin, space = resolve(args.target, args.params)
    store = None
    if args.out is not None:
        if args.out.exists() and not args.out.is_dir():
            raise ValueError(f"--out {str(args.out)!r} exists and is not a folder")
        store = args.out / "stores"
    result = falsify(margin, space, key=jax.random.key(args.seed), budget=args.budget, store=store,
                     resume=args.resume, progress=False if args.no_progress else None)
    print(result.summary())
    if args.out is not None:
        (args.out / RESULT_FILE).write_text(json.dumps(result.to_json(), indent=2, sort_keys=True) + "\n")
        print(f"result in {args.out / RESULT_FILE}")
    return EXIT_FOUND if result.found else EXIT_NONE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # bad input is a ValueError, reported as one line
        raise ValueError(message)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m overparam.falsify ...``: the same command standing alone; returns the exit status."""
    parser = _Parser(prog="overparam")
    add_parser(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    try:
        args = parser.parse_args(["falsify", *(sys.argv[1:] if argv is None else argv)])
        return run(args)
    except ValueError as error:
        print(f"overparam falsify: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_BAD_INPUT
