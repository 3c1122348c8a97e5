"""The study API: declare a study (axes, settings, a pure point function, claims) and run it.

A built-in study and a researcher's own experiment are the same thing (docs/studies.md)::

    import jax, overparam.study as st

    def point(config, key):
        return {"value": config["scale"] * jax.random.normal(key)}

    STUDY = st.Study(name="my-study", sweeps={"main": st.Sweep(point)},
                     axes={"scale": st.Axis((0.5, 1.0)), "seed": st.seeds(4)})
    result = st.run_study(STUDY, out="results/my-study")

``overparam run path/to/file.py`` does the same from the command line.
"""

from overparam.study.claims import Claim, ClaimResult
from overparam.study.output import Figure, FolderError
from overparam.study.registry import ENTRY_POINT_GROUP, builtin_studies, installed_studies, load_study, studies
from overparam.study.runner import StudyResult, precision, read_result, resolve_devices, run_study
from overparam.study.spec import SIZES, Axis, Compute, Setting, Setup, Study, Sweep, seeds

__all__ = [
    "ENTRY_POINT_GROUP",
    "SIZES",
    "Axis",
    "Claim",
    "ClaimResult",
    "Compute",
    "Figure",
    "FolderError",
    "Setting",
    "Setup",
    "Study",
    "StudyResult",
    "Sweep",
    "builtin_studies",
    "installed_studies",
    "load_study",
    "precision",
    "read_result",
    "resolve_devices",
    "run_study",
    "seeds",
    "studies",
]
