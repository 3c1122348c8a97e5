"""Finding studies: the built-in ones, those of installed packages, and a user's own file or module.

A study reference (docs/studies.md#running-a-study) is one of

* ``BUILTIN`` -- a name from :func:`studies` (``xiong-sym-vs-asym``);
* ``path/to/file.py`` or ``path/to/file.py:NAME`` -- a file of one's own;
* ``package.module:NAME`` or ``package.module`` -- an importable module.

In a file or module, ``NAME`` is an attribute holding a :class:`~overparam.study.spec.Study`;
without it the module's ``STUDY`` is used, or else a study is made from a module-level ``point``
function and ``GRID`` mapping (and, optionally, ``SETTINGS``, ``measure``, ``claims``,
``figures``): the smallest study is a grid and a point function.

Installed packages register studies in the entry-point group ``overparam.studies``: each entry
point names a :class:`Study` object (``name = "package.module:STUDY"``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

from overparam.study.spec import Study, Sweep

ENTRY_POINT_GROUP = "overparam.studies"


def builtin_studies() -> dict[str, Study]:
    """The studies shipped in :mod:`overparam.studies`, by name, in a stable order."""
    import overparam.studies as package

    found: dict[str, Study] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        study = getattr(module, "STUDY", None)
        if isinstance(study, Study):
            found[study.name] = study
    return found


def installed_studies() -> dict[str, Study]:
    """Studies registered by installed packages in the ``overparam.studies`` entry-point group."""
    found: dict[str, Study] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        try:
            study = ep.load()
        except Exception as error:  # noqa: BLE001 - one broken plug-in must not hide the others
            raise ValueError(f"entry point {ep.name!r} ({ep.value}) of group {ENTRY_POINT_GROUP!r} "
                             f"cannot be loaded: {type(error).__name__}: {error}") from None
        if not isinstance(study, Study):
            raise ValueError(f"entry point {ep.name!r} ({ep.value}) is not an overparam.study.Study")
        found.setdefault(study.name, study)
    return found


def studies() -> dict[str, Study]:
    """Every study that can be run by name: built-in ones first, then installed ones."""
    found = builtin_studies()
    for name, study in installed_studies().items():
        found.setdefault(name, study)
    return found


def _from_module(module: ModuleType, attribute: str | None, ref: str) -> Study:
    if attribute:
        if not hasattr(module, attribute):
            raise ValueError(f"study {ref!r}: {module.__name__} has no attribute {attribute!r}")
        study = getattr(module, attribute)
        if not isinstance(study, Study):
            raise ValueError(f"study {ref!r}: {attribute} is a {type(study).__name__}, not an overparam.study.Study")
        return study
    study = getattr(module, "STUDY", None)
    if isinstance(study, Study):
        return study
    point, grid = getattr(module, "point", None), getattr(module, "GRID", None)
    if callable(point) and isinstance(grid, dict):
        name = getattr(module, "NAME", None) or Path(getattr(module, "__file__", "study")).stem.replace("_", "-")
        return Study(name=name, sweeps={"sweep": Sweep(point, out_dims=getattr(module, "OUT_DIMS", None),
                                                       out_coords=getattr(module, "OUT_COORDS", None))},
                     axes=grid, settings=getattr(module, "SETTINGS", {}), paper=getattr(module, "PAPER", ""),
                     description=(module.__doc__ or "").strip().split("\n")[0],
                     measure=getattr(module, "measure", None), claims=getattr(module, "claims", None),
                     figures=getattr(module, "figures", None), dtype=getattr(module, "DTYPE", "float64"))
    raise ValueError(f"study {ref!r}: {module.__name__} defines no STUDY, and no `point` function with a `GRID` dict")


def _load_file(path: Path) -> ModuleType:
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]
    name = f"overparam_user_study_{path.stem}_{digest}"  # stable across processes: part of the sweep fingerprint
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ValueError(f"study file {str(path)!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        del sys.modules[name]
        raise
    return module


def load_study(ref: str) -> Study:
    """The study that ``ref`` names (see the module docstring); ``ValueError`` if there is none."""
    if not isinstance(ref, str) or not ref.strip():
        raise ValueError(f"study reference must be a non-empty string, got {ref!r}")
    ref = ref.strip()
    target, _, attribute = ref.rpartition(":") if ":" in ref else (ref, "", "")
    if target.endswith(".py") or ref.endswith(".py"):
        path = Path(target if target.endswith(".py") else ref)
        if not path.is_file():
            raise ValueError(f"study file {str(path)!r} does not exist")
        return _from_module(_load_file(path), attribute or None, ref)
    if ":" in ref:
        try:
            module = importlib.import_module(target)
        except ImportError as error:
            raise ValueError(f"study {ref!r}: module {target!r} cannot be imported ({error})") from None
        return _from_module(module, attribute or None, ref)
    known = studies()
    if ref in known:
        return known[ref]
    if "." in ref:
        try:
            return _from_module(importlib.import_module(ref), None, ref)
        except ImportError:
            pass
    raise ValueError(f"unknown study {ref!r}; available: {', '.join(known) or 'none'} "
                     "(or a file path.py[:NAME] or a module:NAME)")
