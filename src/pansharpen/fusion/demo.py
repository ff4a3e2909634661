"""``pansharpen demo``: the main job on the embedded default scene.

Fuses the ``dgsamples`` WorldView-3 product (PAN 3340 x 3340, 8-band MS at ratio 4)
with the bundled weights, then writes the fused GeoTIFF, a quick-look PNG and a short
report: full-resolution indices on a central block of the real product, and
reduced-resolution indices on a Wald-degraded copy of that block (with EXP, the
interp23tap upsampling, as the reference point).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import rasterio

from ..io.atomic import atomic_write_bytes
from ..io.raster import read_image, write_image
from ..io.samples import sample_product
from ..io.windows import Window
from ..metrics.full import full_resolution_indices
from ..metrics.reduced import reduced_resolution_indices
from ..protocol.interp import interp23tap
from ..protocol.sensors import get_sensor
from ..protocol.wald import wald_degrade
from ..viz.quicklook import save_quicklook
from .fuse import fuse, make_fuser
from .scene import fuse_arrays

#: side (PAN pixels) of the block used for the report's indices; a multiple of 32 * ratio
REPORT_BLOCK = 512


def _report_block(height: int, width: int, size: int, ratio: int) -> tuple[int, int, int]:
    """A square block at the bottom of the scene, centred across: the bottom strip is what
    ``pansharpen simulate`` holds out for testing, so the bundled weights never saw it."""
    unit = 32 * ratio
    size = min(size, height - height % unit, width - width % unit)
    r = (height - height % unit) - size
    c = ((width - size) // 2) // ratio * ratio
    return r, c, size


def _crop_product(pan_path: Path, ms_path: Path, size: int, ratio: int, folder: Path) -> tuple[Path, Path]:
    """Top-left ``size`` x ``size`` PAN pixels of the product (and the MS under them) as GeoTIFFs in ``folder``."""

    out = []
    for path, side in ((pan_path, size), (ms_path, size // ratio)):
        with rasterio.open(path) as src:
            win = Window.of_shape(min(side, src.height), min(side, src.width)).to_rasterio()
            profile = {"crs": src.crs, "transform": src.window_transform(win), "nodata": src.nodata,
                       "descriptions": src.descriptions}
            data = src.read(window=win)
        dst_path = folder / f"crop{size}_{path.name}"
        write_image(dst_path, data, profile, overwrite=True)  # the one GeoTIFF writer (atomic)
        out.append(dst_path)
    return out[0], out[1]


def run_demo(
    out_dir: "str | Path" = "pansharpen-demo", *, model=None, method=None, size: int | None = None, quiet: bool = False
) -> dict:
    """Run the demo; returns the report (also written as ``report.json`` and ``report.md`` in ``out_dir``).

    ``size`` fuses only the top-left ``size`` x ``size`` PAN pixels of the product (a quick run).
    """

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pan_path, ms_path = sample_product("WV3")
    sensor = get_sensor("WV3")
    ratio = 4
    if size is not None:
        pan_path, ms_path = _crop_product(pan_path, ms_path, size - size % (32 * ratio), ratio, out_dir)
    fused_path = out_dir / "wv3_fused.tif"
    t0 = time.perf_counter()
    fuse(pan_path, ms_path, fused_path, model=model, method=method, sensor=sensor, overwrite=True, quiet=quiet)
    seconds = time.perf_counter() - t0

    ms, _ = read_image(ms_path)
    pan, _ = read_image(pan_path)
    fused, _ = read_image(fused_path)
    fuser = make_fuser(model=model, method=method, sensor=sensor, nbands=ms.shape[0], ratio=ratio)
    r, c, s = _report_block(*pan.shape[1:], REPORT_BLOCK, ratio)
    save_quicklook(ms, fused, out_dir / "quicklook.png", sensor.rgb, ratio, inset=(r + s // 2 - 128, c + s // 2 - 128, 256))

    pan_b = pan[:, r : r + s, c : c + s].astype(np.float64)
    ms_b = ms[:, r // ratio : (r + s) // ratio, c // ratio : (c + s) // ratio].astype(np.float64)
    fused_b = fused[:, r : r + s, c : c + s].astype(np.float64)
    full = full_resolution_indices(fused_b, ms_b, pan_b, sensor, ratio=ratio)
    full_exp = full_resolution_indices(interp23tap(ms_b, ratio), ms_b, pan_b, sensor, ratio=ratio)

    ms_lr, pan_lr = wald_degrade(ms_b, pan_b, sensor, ratio)
    fused_rr = np.clip(fuse_arrays(pan_lr, ms_lr, fuser), 0, sensor.max_value)
    reduced = reduced_resolution_indices(ms_b, fused_rr, ratio=ratio, sensor=sensor)
    reduced_exp = reduced_resolution_indices(ms_b, interp23tap(ms_lr, ratio), ratio=ratio, sensor=sensor)

    report = {
        "product": {"pan": pan_path.name, "ms": ms_path.name, "sensor": sensor.name, "ratio": ratio},
        "fuser": fuser.name,
        "output": str(fused_path),
        "fuse_seconds": round(seconds, 2),
        "block": {"row": r, "col": c, "size": s},
        "full_resolution": {"fused": _round(full), "EXP": _round(full_exp)},
        "reduced_resolution": {
            "protocol": "Wald: MS MTF-filtered and decimated, PAN imresize 1/4 (reference toolbox), crop 0",
            "fused": _round(reduced),
            "EXP": _round(reduced_exp),
        },
    }
    atomic_write_bytes(out_dir / "report.json", json.dumps(report, indent=2))
    atomic_write_bytes(out_dir / "report.md", _markdown(report))
    return report


def _round(d: dict) -> dict:
    return {k: round(float(v), 4) for k, v in d.items()}


def _markdown(rep: dict) -> str:
    full, red = rep["full_resolution"], rep["reduced_resolution"]
    lines = [
        f"# pansharpen demo: {rep['product']['sensor']} sample product, {rep['fuser']}",
        "",
        f"Fused {rep['product']['pan']} + {rep['product']['ms']} in {rep['fuse_seconds']} s -> `{rep['output']}`.",
        f"Indices on a {rep['block']['size']} px block at the bottom of the scene (rows {rep['block']['row']}+, cols {rep['block']['col']}+), held out from the bundled weights' training.",
        "",
        "## Full resolution (no reference)",
        "",
        "| method | " + " | ".join(full["fused"]) + " |",
        "|---|" + "---|" * len(full["fused"]),
    ]
    for name in ("EXP", "fused"):
        lines.append(f"| {name if name == 'EXP' else rep['fuser']} | " + " | ".join(f"{v:.4f}" for v in full[name].values()) + " |")
    lines += [
        "",
        f"## Reduced resolution ({red['protocol']})",
        "",
        "| method | " + " | ".join(red["fused"]) + " |",
        "|---|" + "---|" * len(red["fused"]),
    ]
    for name in ("EXP", "fused"):
        lines.append(f"| {name if name == 'EXP' else rep['fuser']} | " + " | ".join(f"{v:.4f}" for v in red[name].values()) + " |")
    return "\n".join(lines) + "\n"
