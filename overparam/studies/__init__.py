"""Studies: one module per paper claim, each exposing a module-level ``STUDY``.

``registry()`` imports every module of this package that defines ``STUDY`` and returns them by
name, so adding a study means adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil

from overparam.studies.base import Claim, Size, Study, StudyResult, read_claims, write_claims

__all__ = ["Claim", "Size", "Study", "StudyResult", "read_claims", "registry", "write_claims"]

_SKIP = {"base"}


def registry() -> dict[str, Study]:
    """All studies of this package, by command-line name, in a stable order."""
    studies: dict[str, Study] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name in _SKIP or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        study = getattr(module, "STUDY", None)
        if study is not None:
            studies[study.name] = study
    return studies
