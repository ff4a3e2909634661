"""Evaluation runs: the quality indices of fused images read from files, with provenance.

Two protocols (metrics-reference.md section 3.13):

* **reduced resolution** -- fused image versus a reference (Wald protocol ground truth):
  Q2n, Q, SAM, ERGAS, SCC (:func:`pansharpen.metrics.reduced.reduced_resolution_indices`);
* **full resolution** -- fused image versus the MS and PAN it was made from:
  D_lambda, D_s, QNR, D_lambda_K, HQNR (:func:`pansharpen.metrics.full.full_resolution_indices`).

Inputs are files, each holding one or several images in digital numbers:

* GeoTIFF (``.tif``/``.tiff``): bands x rows x cols, one image;
* ``.npy``: rows x cols x bands (one image) or N x rows x cols x bands;
* a folder of such files, one image each, in natural name order (``out_2`` before ``out_10``);
* PanCollection ``.h5``/``.mat``: every sample of the key the role asks for --
  reference ``gt``; fused ``sr``, ``fused``, ``output`` (first present, else the only array
  that is not gt/ms/lms/pan); MS ``ms`` (with ``lms``
  used as the upsampled MS if present); PAN ``pan``. ``FILE.h5:KEY`` picks a key explicitly.

Images are read one at a time (a test set is never loaded whole).
"""
from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import rasterio
from tqdm import tqdm

from .._version import __version__
from ..errors import ShapeError, ValueRangeError
from ..io.atomic import atomic_path
from ..io.geotiff import read_provenance
from ..io.images import ROLE_KEYS, ImageSource, open_source, split_key  # noqa: F401  (re-exported)
from ..io.pancollection import open_pancollection
from ..io.raster import (
    check_pair_grids,
    pair_phase,
)
from ..io.windows import Window
from ..metrics._inputs import (
    ensure_digital_numbers,
    high_value,
    looks_normalised,
    scale_mismatch,
)
from ..metrics.full import _sensor_max, full_resolution_indices
from ..metrics.reduced import reduced_resolution_indices
from ..metrics.table import aggregate, format_table
from ..protocol.policy import resolve_sensor
from .streamed import streamed_full_indices

REDUCED_KEYS = ("Q2n", "Q", "SAM", "ERGAS", "SCC")
FULL_KEYS = ("D_lambda", "D_s", "QNR", "D_lambda_K", "HQNR")

def _same_count(sources: Sequence[ImageSource]) -> int:
    counts = {s.count for s in sources}
    if len(counts) > 1:
        listing = ", ".join(f"{s.label()}: {s.count}" for s in sources)
        raise ShapeError(f"the inputs hold different numbers of images ({listing}); give files with the same images")
    return counts.pop()


def _same_bands(a: ImageSource, b: ImageSource) -> None:
    if a.shape[0] != b.shape[0]:
        raise ShapeError(
            f"{a.label()} has {a.shape[0]} bands but {b.label()} has {b.shape[0]}; "
            "evaluate images with the same bands in the same order"
        )


# ------------------------------------------------------------------------------------ results
@dataclass
class Evaluation:
    """The indices of every image plus what produced them.

    Attributes:
        protocol: ``"reduced-resolution"`` or ``"full-resolution"``.
        keys: index names in the order papers print them.
        rows: one ``{index: value}`` per image; ``images``: a label per image.
        settings: sensor, ratio, crop, ... ; ``inputs``: the files read.
    """

    protocol: str
    keys: tuple[str, ...]
    rows: list[dict[str, float]]
    images: list[str]
    settings: dict[str, Any]
    inputs: dict[str, Any]

    def summary(self) -> dict[str, tuple[float, float]]:
        """``{index: (mean, std)}`` over the images, std with N-1 like MATLAB ``std``."""
        stats = aggregate(self.rows)
        return {k: stats[k] for k in self.keys}

    def provenance(self) -> dict[str, Any]:
        return {"protocol": self.protocol, **self.settings, "inputs": self.inputs, "pansharpen_version": __version__}

    def to_dict(self) -> dict[str, Any]:
        """Everything, for ``--out-json``: indices per image, mean/std and provenance."""
        out: dict[str, Any] = self.provenance()
        out["images"] = [{"image": name, **row} for name, row in zip(self.images, self.rows)]
        if len(self.rows) > 1:
            stats = self.summary()
            out["mean"] = {k: _json_number(m) for k, (m, _) in stats.items()}
            out["std"] = {k: _json_number(s) for k, (_, s) in stats.items()}
        return out

    def stdout_json(self) -> Any:
        """One object with exactly the index keys (a list of them for several images)."""
        objs = [{**{k: _json_number(row[k]) for k in self.keys},
                 **({"cropped_to": row["cropped_to"]} if "cropped_to" in row else {})} for row in self.rows]
        return objs[0] if len(objs) == 1 else objs

    def write_json(self, path: "str | Path") -> None:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.to_dict(), indent=2, default=str) + "\n")

    def write_csv(self, path: "str | Path") -> None:
        """CSV with ``#`` provenance lines first (``pandas.read_csv(p, comment='#')`` reads it)."""
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
            for key, value in self.provenance().items():
                fh.write(f"# {key}: {json.dumps(value, default=str)}\n")
            writer = csv.writer(fh)
            writer.writerow(["image", *self.keys])
            for name, row in zip(self.images, self.rows):
                writer.writerow([name, *(repr(float(row[k])) for k in self.keys)])
            if len(self.rows) > 1:
                stats = self.summary()
                writer.writerow(["mean", *(repr(stats[k][0]) for k in self.keys)])
                writer.writerow(["std", *(repr(stats[k][1]) for k in self.keys)])

    def table(self) -> str:
        """Text table in paper column order: one line per image, then mean ± std (N-1) when several."""
        rows = {name: {k: row[k] for k in self.keys} for name, row in zip(self.images, self.rows)}
        if len(self.rows) > 1:
            rows["mean ± std"] = self.summary()
        return f"{self.protocol} ({_settings_line(self.settings)})\n" + format_table(rows) + self.notes()

    def notes(self) -> str:
        """Lines after the table: the crop to whole blocks, when one was made."""
        sizes = self.settings.get("cropped_to")
        if not sizes:
            return ""
        cut = ", ".join(f"{h} x {w}" for h, w in sizes)
        bs = self.settings.get("block_size", 32)
        return (f"\nnote: images cut to {cut} (top-left whole {bs} x {bs} blocks; the reference needs block "
                "multiples)")


def _settings_line(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in settings.items() if v is not None and k not in ("cropped_to", "pan_window"))


def _json_number(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


# ------------------------------------------------------------------------------------ runs
def _sensor_name(sensor) -> str | None:
    return None if sensor is None else getattr(sensor, "name", str(sensor))


def _attrs_sensor(*sources: ImageSource | None) -> str | None:
    """Sensor recorded in a PanCollection file's provenance (written by ``pansharpen simulate``)."""
    for s in sources:
        if s is not None and s.kind == "pancollection":
            with open_pancollection(s.path) as f:
                if isinstance(f.attrs.get("sensor"), str):
                    return f.attrs["sensor"]
    return None


def evaluate_reduced(
    reference: "str | Path",
    fused: "str | Path",
    ratio: int = 4,
    sensor=None,
    crop: int = 0,
    max_value: float | None = None,
) -> Evaluation:
    """Reduced-resolution indices of every fused image against its reference.

    Args:
        reference, fused: files (see the module docstring); the same number of images, the same
            bands and sizes.
        ratio: PAN/MS ratio used by ERGAS. crop: ``dim_cut`` border cut (0 = none).
        sensor, max_value: only used to rescale float images normalised to [0, 1] back to digital
            numbers (with a warning); otherwise such images are refused.
    """
    with contextlib.ExitStack() as stack:
        ref = open_source(reference, "reference")
        stack.callback(ref.close)
        fus = open_source(fused, "fused")
        stack.callback(fus.close)
        n = _same_count([ref, fus])
        _same_bands(ref, fus)
        if ref.shape[1:] != fus.shape[1:]:
            raise ShapeError(
                f"{ref.label()} is {ref.shape[1]} x {ref.shape[2]} but {fus.label()} is {fus.shape[1]} x {fus.shape[2]}; "
                "the fused image must be on the reference's grid"
            )
        _check_same_grid(ref, fus)
        rows = []
        for i in range(n):
            rows.append(reduced_resolution_indices(
                ref.read(i), fus.read(i), ratio=ratio, crop=crop, sensor=sensor, max_value=max_value))
        settings = {"sensor": _sensor_name(sensor), "ratio": ratio, "crop": crop, "max_value": max_value,
                    "block_size": 32}
        inputs = {"reference": ref.describe(), "fused": fus.describe()}
        return Evaluation("reduced-resolution", REDUCED_KEYS, rows, [fus.label(i) for i in range(n)], settings, inputs)


def _check_same_grid(a: ImageSource, b: ImageSource) -> None:
    if a.profile is None or b.profile is None:
        return
    if a.profile.get("crs") and b.profile.get("crs"):
        if a.profile["crs"] != b.profile["crs"] or a.profile["transform"] != b.profile["transform"]:
            raise ShapeError(
                f"{a.label()} and {b.label()} are not on the same grid (CRS or transform differ); "
                "compare images on one grid"
            )


def evaluate_full(
    ms: "str | Path",
    pan: "str | Path",
    fused: "str | Path",
    sensor=None,
    ratio: int | None = 4,
    crop_to_blocks: bool = True,
    max_value: float | None = None,
    mtf_ms=None,
    mtf_pan: float | None = None,
    bits: int | None = None,
    *,
    quiet: bool = True,
    strip: int = 128,
) -> Evaluation:
    """Full-resolution indices (no reference) of every fused image against its MS and PAN.

    Sizes that are not multiples of the 32-pixel block are cut to the top-left whole blocks
    (the reference stops with an error there; ``crop_to_blocks=False`` does the same); the size
    used is recorded as ``cropped_to`` with the numbers and in the settings.

    A GeoTIFF scene (MS, PAN and fused GeoTIFFs, e.g. what ``pansharpen fuse`` writes) is
    evaluated in row strips of ``strip`` PAN rows (:mod:`pansharpen.evaluation.streamed`): memory
    stays bounded for any scene size, the numbers are those of the whole-image computation, and
    ``quiet=False`` shows a progress bar. The fused GeoTIFF may cover the whole PAN (fuse's
    output) or only the PAN/MS overlap. ``ratio`` None takes the ratio from the pixel sizes.

    ``max_value`` rescales float images normalised to [0, 1] (default: the sensor's maximum DN).
    ``sensor`` gives the MTF gains used by D_s / D_lambda_K, by the sensor policy of ``fuse``
    (:func:`pansharpen.protocol.policy.resolve_sensor`: ``sensor``, else the sensor ``pansharpen
    fuse`` recorded in the fused GeoTIFF or the ``sensor`` attribute of a PanCollection input,
    else the GeoTIFFs' metadata; ``mtf_ms``/``mtf_pan``/``bits`` override), else the toolbox
    defaults for an unknown sensor (``"none"``: MS gain 0.3, PAN gain 0.15), with a warning.
    The MS upsampled to the PAN grid (``lms`` of a PanCollection file) is passed on as
    ``ms_exp`` when present; otherwise the metrics compute it with interp23tap.
    """
    with contextlib.ExitStack() as stack:
        ms_src = open_source(ms, "ms")
        stack.callback(ms_src.close)
        # the upsampled MS (lms) of the same file, whatever key --ms named
        exp_src = open_source(split_key(ms)[0], "ms_exp", required=False) if ms_src.kind == "pancollection" else None
        if exp_src is not None:
            stack.callback(exp_src.close)
        pan_src = open_source(pan, "pan")
        stack.callback(pan_src.close)
        fus = open_source(fused, "fused")
        stack.callback(fus.close)
        n = _same_count([s for s in (ms_src, exp_src, pan_src, fus) if s is not None])
        _same_bands(ms_src, fus)
        scene = ms_src.kind == pan_src.kind == fus.kind == "geotiff"
        if pan_src.shape[0] != 1:
            raise ShapeError(f"{pan_src.label()} has {pan_src.shape[0]} bands; the PAN must have 1")
        if not scene:
            ratio = 4 if ratio is None else ratio
            _check_ratio(ms_src, pan_src, ratio)
            if fus.shape[1:] != pan_src.shape[1:]:
                raise ShapeError(
                    f"{fus.label()} is {fus.shape[1]} x {fus.shape[2]} but the PAN {pan_src.label()} is "
                    f"{pan_src.shape[1]} x {pan_src.shape[2]}; the fused image must be on the PAN grid"
                )
        sensor_obj = _evaluation_sensor(sensor, ms_src, pan_src, fus, mtf_ms=mtf_ms, mtf_pan=mtf_pan, bits=bits)
        if scene:
            row, ratio, area = _scene_indices(ms_src, pan_src, fus, sensor_obj, ratio, crop_to_blocks, max_value,
                                              quiet, strip)
            rows = [row]
        else:

            rows, area = [], None
            for i in range(n):
                exp_i = exp_src.read(i) if exp_src is not None else None
                rows.append(full_resolution_indices(
                    fus.read(i), ms_src.read(i), pan_src.read(i), sensor_obj, ratio=ratio, ms_exp=exp_i,
                    crop_to_blocks=crop_to_blocks, max_value=max_value))
        cropped = sorted({tuple(r["cropped_to"]) for r in rows if "cropped_to" in r})
        settings = {"sensor": sensor_obj.name if sensor_obj.name != "generic" else "none", "ratio": ratio,
                    "ms_gnyq": list(sensor_obj.ms_gnyq), "pan_gnyq": sensor_obj.pan_gnyq, "crop": 0,
                    "ms_exp": "lms" if exp_src is not None else "interp23tap", "block_size": 32,
                    "crop_to_blocks": crop_to_blocks, "cropped_to": [list(c) for c in cropped] or None,
                    "pan_window": area, "max_value": max_value}
        inputs = {"ms": ms_src.describe(), "pan": pan_src.describe(), "fused": fus.describe()}
        if exp_src is not None:
            inputs["ms_exp"] = exp_src.describe()
        return Evaluation("full-resolution", FULL_KEYS, rows, [fus.label(i) for i in range(n)], settings, inputs)


def _evaluation_sensor(sensor, ms_src: ImageSource, pan_src: ImageSource, fus: ImageSource, *, mtf_ms=None,
                       mtf_pan=None, bits=None):
    """The sensor for the MTF gains by the sensor policy of ``fuse`` (see :func:`evaluate_full`)."""
    geo = {k: s.path for k, s in (("ms_path", ms_src), ("pan_path", pan_src)) if s.kind == "geotiff"}
    recorded = None if sensor is not None else (_recorded_sensor(fus) or _attrs_sensor(ms_src, pan_src, fus))
    sensor_obj, why = resolve_sensor(sensor, nbands=ms_src.shape[0], recorded=recorded, mtf_ms=mtf_ms,
                                     mtf_pan=mtf_pan, bits=bits, unknown_ok=True, **geo)
    if why.startswith("unknown"):
        warnings.warn(
            "no sensor given or stated by the files: D_s and D_lambda_K use the toolbox defaults for an "
            "unknown sensor (MTF gain 0.3 MS, 0.15 PAN); pass --sensor for the sensor's own MTF",
            UserWarning, stacklevel=3,
        )
    return sensor_obj


def _recorded_sensor(fus: ImageSource) -> str | None:
    """The sensor ``pansharpen fuse`` recorded in its output's tags, if any."""
    if fus.kind != "geotiff":
        return None
    return read_provenance(fus.path).get("sensor") or None


def _scene_indices(ms_src, pan_src, fus, sensor, ratio, crop_to_blocks, max_value, quiet, strip):
    """Streamed full-resolution indices of a GeoTIFF scene; returns ``(row, ratio, pan_window)``."""
    with contextlib.ExitStack() as stack:
        pan_ds = stack.enter_context(rasterio.open(pan_src.path))
        ms_ds = stack.enter_context(rasterio.open(ms_src.path))
        fus_ds = stack.enter_context(rasterio.open(fus.path))
        found, pw, mw = check_pair_grids(pan_ds, ms_ds, ratio)
        pr0, pc0 = pw.row0, pw.col0
        height, width = pw.shape
        if (fus_ds.height, fus_ds.width) == (pan_ds.height, pan_ds.width):
            fr0, fc0 = pr0, pc0  # on the whole PAN grid (fuse's output): read the overlap
        elif (fus_ds.height, fus_ds.width) == (height, width):
            fr0, fc0 = 0, 0
        else:
            raise ShapeError(
                f"{fus.label()} is {fus_ds.height} x {fus_ds.width} but the PAN is {pan_ds.height} x {pan_ds.width} "
                f"and the PAN/MS overlap {height} x {width} PAN pixels; the fused image must be on one of those grids"
            )
        ms_img = _checked(ms_ds.read(window=mw.to_rasterio()).astype(np.float64), ms_src.label())
        scale = _dn_scales(fus_ds, pan_ds, ms_ds, ms_img, _sensor_max(sensor, max_value))
        nodata = {"n": 0}

        def reader(ds, r_off, c_off, label, factor, count_nodata=False):
            def read(r0, r1):
                block = ds.read(window=Window(r_off + r0, r_off + r1, c_off, c_off + width).to_rasterio())
                block = block.astype(np.float64)
                _checked(block, label)
                if count_nodata and ds.nodata is not None:
                    nodata["n"] += int((block == ds.nodata).sum())
                return block * factor if factor != 1 else block
            return read

        progress = functools.partial(tqdm, desc="evaluating", unit="strip", disable=quiet)
        row = streamed_full_indices(
            reader(fus_ds, fr0, fc0, fus.label(), scale["fused"], True), reader(pan_ds, pr0, pc0, pan_src.label(), scale["pan"]),
            ms_img * scale["ms"], sensor, found, strip=strip, crop_to_blocks=crop_to_blocks, progress=progress,
            phase=pair_phase(pan_ds, ms_ds))
        if nodata["n"]:
            warnings.warn(
                f"{fus.label()} has {nodata['n']} nodata ({fus_ds.nodata:g}) values; the indices include them as data "
                "-- crop the images to their valid area for meaningful numbers", UserWarning, stacklevel=3)
    return row, found, pw.as_pairs()


def _checked(block: np.ndarray, label: str) -> np.ndarray:
    if not np.isfinite(block).all():
        raise ValueRangeError(f"{label} contains NaN or inf values; fill or mask nodata before evaluating")
    return block


def _dn_scales(fus_ds, pan_ds, ms_ds, ms_img: np.ndarray, max_value: float | None) -> dict[str, float]:
    """Factors that bring float images normalised to [0, 1] to digital numbers (the rule of
    :func:`pansharpen.metrics._inputs.ensure_digital_numbers`, applied to whole-scene maxima)."""
    def scene_max(ds) -> float:
        if np.dtype(ds.dtypes[0]).kind != "f":
            return np.inf
        return max(float(ds.read(window=w).max()) for _, w in ds.block_windows(1))

    ms_float = np.dtype(ms_ds.dtypes[0]).kind == "f"
    maxima = {"fused": scene_max(fus_ds), "pan": scene_max(pan_ds), "ms": float(ms_img.max()) if ms_float else np.inf}
    flagged = {k: np.array([v]) for k, v in maxima.items() if looks_normalised(True, v)}  # float images only (ints: inf)
    if flagged:
        ensure_digital_numbers(flagged, {k: np.zeros(1) for k in flagged}, max_value)  # refuses or warns
    scales = {k: float(max_value) if k in flagged else 1.0 for k in maxima}

    def sample(ds) -> np.ndarray:  # a decimated read: the scale, not the detail
        return ds.read(out_shape=(ds.count, min(ds.height, 512), min(ds.width, 512))).astype(np.float64)

    highs = {"fused": high_value(sample(fus_ds) * scales["fused"]), "ms": high_value(ms_img * scales["ms"]),
             "pan": high_value(sample(pan_ds) * scales["pan"])}
    problem = scale_mismatch({"ms": highs["ms"], "pan": highs["pan"]})  # the inputs: refused, as in fuse
    if problem:
        raise ValueRangeError(f"{problem}; give all images in digital numbers of the same sensor")
    problem = scale_mismatch({"fused": highs["fused"], "ms": highs["ms"]})  # the measured image: a warning
    if problem:
        warnings.warn(f"{problem}; the indices measure that difference", UserWarning, stacklevel=4)
    return scales


def _check_ratio(ms: ImageSource, pan: ImageSource, ratio: int) -> None:
    (_, h, w), (_, hp, wp) = ms.shape, pan.shape
    if (hp, wp) != (h * ratio, w * ratio):
        raise ShapeError(
            f"the PAN {pan.label()} is {hp} x {wp} but the MS {ms.label()} is {h} x {w}; with ratio {ratio} the "
            f"PAN must be {h * ratio} x {w * ratio} (pass the right --ratio or the matching files)"
        )
