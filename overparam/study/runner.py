"""The engine that runs any study the same way: validate, sweep, measure, claim, draw, record.

:func:`run_study` takes a :class:`~overparam.study.spec.Study` and does, in order
(docs/studies.md#what-the-engine-does):

1. :meth:`Study.plan` -- every axis and setting validated before anything compiles;
2. the output folder checked (:func:`overparam.study.output.prepare`): new, empty, or an earlier
   run of the same study and size to resume (``resume``) or clear (``overwrite``);
3. each sweep through :func:`overparam.sweep.run` into ``out/<sweep>.zarr`` (chunked, resumable,
   sharded over the chosen devices) and each :class:`Compute` into ``out/<name>.nc``, inside a
   scoped precision switch for the study's ``dtype`` (no global configuration changes);
4. ``measure``, ``claims`` and ``figures`` on process 0;
5. ``measures.json``, ``claims.json``, the figures (PNG, SVG, CSV), then ``result.json`` last.

Under ``jax.distributed`` every process evaluates its own chunks; process 0 alone writes
everything else, after the others are done.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from overparam.study import claims as claims_mod
from overparam.study import output
from overparam.study.spec import Compute, Setup, Study, Sweep, call_with


@dataclasses.dataclass
class StudyResult:
    """What a run of a study produced, as data (also stored in ``out/result.json``)."""

    name: str
    paper: str
    out: Path
    size: str
    claims: list[claims_mod.ClaimResult]
    measures: dict[str, Any] = dataclasses.field(default_factory=dict)
    figures: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    datasets: list[str] = dataclasses.field(default_factory=list)
    wall_time_s: float = 0.0
    link: str = ""
    description: str = ""
    environment: dict[str, Any] = dataclasses.field(default_factory=dict)
    setup: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def passed(self) -> bool:
        """Whether every claim passes (a study without claims passes)."""
        return all(c.passed for c in self.claims)

    def record(self) -> dict[str, Any]:
        """The JSON form written to ``result.json``."""
        return {"study": self.name, "paper": self.paper, "link": self.link, "description": self.description,
                "size": self.size, "figures": self.figures, "datasets": self.datasets,
                "wall_time_s": self.wall_time_s, "claims": len(self.claims),
                "claims_passed": sum(c.passed for c in self.claims), "environment": self.environment,
                "setup": self.setup}


def precision(dtype: str) -> contextlib.AbstractContextManager[Any]:
    """A scoped switch to float64 (``"float64"``) or float32 for the calls inside it."""
    import jax

    enable = dtype == "float64"
    state = getattr(jax, "enable_x64", None)
    if state is not None and hasattr(state, "__call__"):
        try:
            return state(enable)
        except TypeError:
            pass
    from jax import experimental  # older jax

    return experimental.enable_x64() if enable else experimental.disable_x64()


def resolve_devices(count: int | None) -> list[Any]:
    """The first ``count`` local devices (all of them when None); ``ValueError`` if there are fewer."""
    import jax

    local = list(jax.local_devices())
    if count is None:
        return local
    if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
        raise ValueError(f"devices={count!r} must be an integer >= 1")
    if count > len(local):
        raise ValueError(f"devices={count} but this machine has {len(local)} {local[0].platform} device(s); "
                         f"use at most {len(local)}")
    return local[: int(count)]


def _barrier(name: str) -> None:
    import jax

    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def _environment(devices: Sequence[Any], dtype: str) -> dict[str, Any]:
    from overparam.meta import run_metadata

    meta = dict(run_metadata(list(devices)))
    meta["dtype"] = dtype
    return meta


def _fingerprint(study: Study, setup: Setup, name: str) -> str:
    import overparam

    text = json.dumps({"study": study.name, "sweep": name, "setup": setup.as_dict(),
                       "version": overparam.__version__}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _compute(study: Study, name: str, comp: Compute, setup: Setup, out: Path, resume: bool) -> xr.Dataset:
    path = out / f"{name}.nc"
    fingerprint = _fingerprint(study, setup, name)
    if resume and path.is_file():
        with contextlib.suppress(Exception):
            with xr.open_dataset(path, engine="h5netcdf") as stored:
                if stored.attrs.get("overparam_fingerprint") == fingerprint:
                    return stored.load()
    ds = comp.fn(setup)
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or name)
    if not isinstance(ds, xr.Dataset):
        raise ValueError(f"study {study.name!r}: Compute {name!r} must return an xarray.Dataset, got {type(ds).__name__}")
    ds = ds.assign_attrs(overparam_fingerprint=fingerprint)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        ds.to_netcdf(tmp, engine="h5netcdf")
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return ds


def _resolve(value: Any, setup: Setup) -> Any:
    return value(setup) if callable(value) else value


def _measures_json(measures: Mapping[str, Any]) -> dict[str, Any]:
    def conv(v: Any) -> Any:
        arr = np.asarray(v)
        if arr.dtype.kind in "fc":
            return np.where(np.isfinite(arr), arr, np.nan).tolist() if arr.ndim else (
                float(arr) if np.isfinite(arr) else str(float(arr)))
        return arr.tolist()

    return {k: conv(v) for k, v in measures.items()}


@contextlib.contextmanager
def _status(out: Path, marker: dict[str, Any], writer: bool, previous: dict[str, Any] | None) -> Iterator[None]:
    """Record in ``run.json`` how the run ended: finished, interrupted or failed.

    A resume refused before it computed anything (``ValueError``, e.g. a store made by another
    program) leaves the earlier run's record as it was, with the refusal noted beside it.
    """
    try:
        yield
    except BaseException as error:
        if writer and previous is not None and isinstance(error, ValueError):
            refused = {**previous, "last_refusal": " ".join(str(error).split())[:500]}
            with contextlib.suppress(OSError):
                output.write_json(out / output.RUN_FILE, refused)
        elif writer:
            from overparam import sweep

            stopped = (getattr(sweep, "Interrupted", KeyboardInterrupt), KeyboardInterrupt)
            marker["status"] = "interrupted" if isinstance(error, stopped) else "failed"
            marker["error"] = " ".join(f"{type(error).__name__}: {error}".split())[:500]
            with contextlib.suppress(OSError):
                output.write_json(out / output.RUN_FILE, marker)
                if marker["status"] == "failed":
                    output.write_text(out / "error.txt", "".join(traceback.format_exception(error)))
                    if "error.txt" not in marker["files"]:
                        marker["files"].append("error.txt")
                        output.write_json(out / output.RUN_FILE, marker)
        raise


def run_study(
    study: Study,
    *,
    out: str | Path,
    size: str = "quick",
    overrides: Mapping[str, Any] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool | None = None,
    devices: int | None = None,
    chunk_size: int | None = None,
    source: str | None = None,
) -> StudyResult:
    """Run ``study`` at ``size`` into the folder ``out`` and return what it produced.

    Args:
      study: the declaration.
      out: result folder: new, empty, or an earlier run of the same study and size.
      size: ``"quick"`` or ``"paper"``.
      overrides: axis name -> values, setting name -> value (``--set``).
      resume: continue an earlier run in ``out`` (finished chunks are kept).
      overwrite: remove an earlier run's files in ``out`` first (nothing else is touched).
      progress: sweep progress (bar on a terminal, one line per chunk otherwise); None: terminal only.
      devices: number of local devices to shard each sweep over (default all).
      chunk_size: runs per chunk for every sweep (default: the engine's bounded chunking).
      source: how the study was named (``"path.py:NAME"``), recorded in ``run.json``.

    Raises ``ValueError`` for bad input (nothing computed, nothing written),
    :class:`overparam.study.output.FolderError` for a folder that cannot be used,
    :class:`overparam.sweep.Interrupted` after SIGINT/SIGTERM (finished chunks kept; resume).
    """
    import jax

    from overparam import sweep

    start = time.perf_counter()
    setup = study.plan(size, overrides)
    devs = resolve_devices(devices)
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer))
                                   or chunk_size < 1):
        raise ValueError(f"chunk_size={chunk_size!r} must be an integer >= 1")
    out = Path(out)
    identity = {"study": study.name, "size": size}
    writer = jax.process_index() == 0
    resumable = output.prepare(out, identity, resume=resume, overwrite=overwrite and writer,
                               same=lambda m: m.get("study") == study.name and m.get("size") == size)
    previous = output.read_json(out / output.RUN_FILE) if resumable else None
    if resumable:
        previous = previous if isinstance(previous, dict) else {}
        if previous.get("setup") not in (None, setup.as_dict()):
            raise output.FolderError(
                f"--out {str(out)!r} holds a run of {study.name!r} with other settings or axes "
                f"({_difference(previous.get('setup', {}), setup.as_dict())}); "
                "pass the same --set values to resume, or --overwrite to start afresh")
    _barrier("overparam-study-checked")
    files = [f"{name}.zarr" if isinstance(sw, Sweep) else f"{name}.nc" for name, sw in study.sweeps.items()]
    marker: dict[str, Any] = {"study": study.name, "paper": study.paper, "source": source or study.name,
                              "size": size, "overrides": {k: list(v) if isinstance(v, (list, tuple)) else v
                                                          for k, v in (overrides or {}).items()},
                              "setup": setup.as_dict(), "status": "running", "files": files}
    if writer:
        output.check_writable(out)
        output.write_json(out / output.RUN_FILE, marker)
    _barrier("overparam-study-marked")

    with _status(out, marker, writer, previous), precision(study.dtype):
        data: dict[str, xr.Dataset] = {}
        for name, sw in study.sweeps.items():
            if isinstance(sw, Compute):
                if writer:
                    data[name] = _compute(study, name, sw, setup, out, resumable)
                continue
            data[name] = sweep.run(
                sw.bind(setup), setup.grids[name], key=jax.random.key(sw.seed),
                chunk_size=chunk_size or sw.chunk_size, runs_per_device=sw.runs_per_device,
                out_dims=_resolve(sw.out_dims, setup),
                out_coords=_resolve(sw.out_coords, setup), store=out / f"{name}.zarr",
                resume=resumable and (out / f"{name}.zarr").exists(), progress=progress,
                attrs={"study": study.name, "sweep": name, "size": size, "settings": setup.settings},
                devices=devs if devices is not None else None)
        _barrier("overparam-study-swept")
        environment = _environment(devs, study.dtype)
        swept = [ds for ds in data.values() if "device_count" in ds.attrs and "per_device_batch" in ds.attrs]
        if swept:  # the devices the sweeps ran on (the engine may use fewer for LAPACK-heavy points on CPU)
            environment["device_count"] = int(max(int(ds.attrs["device_count"]) for ds in swept))
        result = StudyResult(study.name, study.paper, out, size, [], link=study.link,
                             description=study.description, environment=environment, setup=setup.as_dict(),
                             datasets=files)
        if not writer:
            _barrier("overparam-study-written")
            return result
        measures = dict(call_with(study.measure, data, setup)) if study.measure is not None else {}
        claim_list = list(call_with(study.claims, measures, setup, data)) if study.claims is not None else []
        for c in claim_list:
            if not isinstance(c, claims_mod.Claim):
                raise ValueError(f"study {study.name!r}: claims must return Claim objects, got {c!r}")
        names = [c.name for c in claim_list]
        if len(set(names)) != len(names):
            raise ValueError(f"study {study.name!r}: claim names repeat: {names}")
        result.claims = [claims_mod.ClaimResult(study.name, study.paper, c) for c in claim_list]
        result.measures = measures
        output.write_json(out / output.MEASURES_FILE, _measures_json(measures))
        output.write_text(out / claims_mod.CLAIMS_FILE, claims_mod.dumps(result.claims))
        marker["files"] += [output.MEASURES_FILE, claims_mod.CLAIMS_FILE]
        figures = list(call_with(study.figures, data, setup, measures)) if study.figures is not None else []
        for fig in figures:
            record = output.save_figure(fig, out)
            result.figures.append(record)
            marker["files"] += [record[k] for k in ("png", "svg", "csv") if k in record]
        result.wall_time_s = time.perf_counter() - start
        marker["files"].append(output.RESULT_FILE)
        output.write_json(out / output.RESULT_FILE, result.record())
        marker.update(status="finished", wall_time_s=result.wall_time_s,
                      claims_passed=sum(c.passed for c in result.claims), claims_total=len(result.claims),
                      **environment)
        output.write_json(out / output.RUN_FILE, marker)
    _barrier("overparam-study-written")
    return result


def _difference(a: Mapping[str, Any], b: Mapping[str, Any]) -> str:
    diffs = []
    for part in ("settings", "axes"):
        x, y = a.get(part, {}), b.get(part, {})
        for k in sorted(set(x) | set(y)):
            if x.get(k) != y.get(k):
                diffs.append(f"{k}: {x.get(k)!r} there, {y.get(k)!r} now")
    return "; ".join(diffs) or "size or grids differ"


def read_result(out: str | Path, name: str | None = None, size: str | None = None) -> StudyResult | None:
    """The :class:`StudyResult` a completed run left in ``out`` (``result.json``), or None.

    With ``name``/``size``, None also when the folder holds another study or size, or when its
    claims do not match the count the record holds.
    """
    out = Path(out)
    record = output.read_json(out / output.RESULT_FILE)
    if not isinstance(record, dict) or (name is not None and record.get("study") != name) or (
            size is not None and record.get("size") != size):
        return None
    try:
        claims = claims_mod.read(out) if (out / claims_mod.CLAIMS_FILE).is_file() else []
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if len(claims) != record.get("claims"):
        return None
    measures = output.read_json(out / output.MEASURES_FILE) or {}
    return StudyResult(record["study"], record.get("paper", ""), out, record.get("size", ""), claims, measures,
                       list(record.get("figures", [])), list(record.get("datasets", [])),
                       float(record.get("wall_time_s", 0.0)), record.get("link", ""), record.get("description", ""),
                       dict(record.get("environment", {})), dict(record.get("setup", {})))
