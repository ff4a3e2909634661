"""Which classical method ``pansharpen fuse`` uses by default, per band family (measured here).

Every classical method fuses Wald-degraded crops of real scenes from ``../shared/data`` (or
``$PANSHARPEN_SHARED/data``), grouped by band count:

* 8 bands: the validation scenes of the data README (``pairmax_*_RR``, ``rio_wv2_RR``; WorldView-2/3);
* 6 bands: ``fusebox_l7_31..39`` (Landsat-7 ETM+, ratio 2; the README's validation split);
* 4 bands: ``grip_ikonos``, ``grip_geoeye1``, ``koshizuka_4band``, ``osman_4band``, ``sdpnet_4band``
  (ratio 4) and ``pansharpenr_l8_pamplona`` (Landsat-8, ratio 2), plus the B, G, R, NIR1 bands of
  the 8-band scenes;
* 3 bands: the R, G, B bands of the 4-band scenes, and ``salihtatci_landsat``.

A centred crop of ``--size`` MS pixels (whole scene when smaller) is the reference; MS and PAN are
degraded by the ratio with the sensor's MTF (``wald_degrade``; sensor by the sensor policy,
the toolbox defaults where a scene's sensor is unknown); each method fuses the pair and is
scored with Q2n, SAM and ERGAS (no border cut). Float reflectance (``pansharpenr_l8_pamplona``)
is scaled by 10000 so that Q2n's integer cast keeps its precision.
The table gives the mean over the family's scenes and the number of scenes where the method has
the best Q2n; the default is the best mean Q2n.

Usage::

    python bench/default_choice.py [--size 128] [--markdown]
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import numpy as np
import rasterio

from pansharpen.classical import fuse_classical, list_methods
from pansharpen.errors import SensorError
from pansharpen.metrics.reduced import reduced_resolution_indices
from pansharpen.protocol.policy import resolve_sensor
from pansharpen.protocol.sensors import get_sensor
from pansharpen.protocol.wald import wald_degrade

DATA = Path(os.environ.get("PANSHARPEN_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data"
EIGHT = ["worldview8/pairmax_W2_Miam_Mix_RR", "worldview8/pairmax_W2_Miam_Urb_RR", "worldview8/pairmax_W3_Muni_Mix_RR",
         "worldview8/pairmax_W3_Muni_Nat_RR", "worldview8/pairmax_W3_Muni_Urb_RR", "worldview8/rio_wv2_RR"]
SIX = [f"landsat/fusebox_l7_{i}" for i in range(31, 40)]
FOUR = ["vhr4/grip_ikonos", "vhr4/grip_geoeye1", "vhr4/koshizuka_4band", "vhr4/osman_4band", "vhr4/sdpnet_4band",
        "landsat/pansharpenr_l8_pamplona"]
THREE = ["landsat/salihtatci_landsat"]


def load(scene: str, size: int):
    """``(ms, pan, sensor, ratio)``: a centred crop (float64 DN), the sensor by the policy."""
    folder = DATA / scene
    with rasterio.open(folder / "ms.tif") as m, rasterio.open(folder / "pan.tif") as p:
        ms, pan = m.read().astype(np.float64), p.read().astype(np.float64)
    ratio = pan.shape[-1] // ms.shape[-1]
    try:
        sensor, _ = resolve_sensor(None, pan_path=folder / "pan.tif", ms_path=folder / "ms.tif", nbands=ms.shape[0])
    except SensorError:
        sensor = get_sensor("none", nbands=ms.shape[0])
    s = min(size, ms.shape[1], ms.shape[2])
    s -= s % (2 * ratio)
    r0, c0 = (ms.shape[1] - s) // 2, (ms.shape[2] - s) // 2
    ms = ms[:, r0:r0 + s, c0:c0 + s]
    pan = pan[:, ratio * r0:ratio * (r0 + s), ratio * c0:ratio * (c0 + s)]
    if ms.max() <= 1.0:  # reflectance
        ms, pan = ms * 10000.0, pan * 10000.0
    return ms, pan, sensor, ratio


def subset(item, names):
    ms, pan, sensor, ratio = item
    idx = [sensor.bands.index(n) for n in names]
    return ms[idx], pan, sensor.with_bands(idx), ratio


def families(size: int) -> dict[str, list[tuple[str, tuple]]]:
    eight = [(s, load(s, size)) for s in EIGHT]
    four = [(s, load(s, size)) for s in FOUR]
    four_named = [(s, it) for s, it in four if {"Blue", "Green", "Red"} <= set(it[2].bands)]
    return {
        "8 bands": eight,
        "6 bands": [(s, load(s, size)) for s in SIX],
        "4 bands": four + [(s + " BGRN", subset(it, ["Blue", "Green", "Red", "NIR1"])) for s, it in eight],
        "3 bands": [(s + " RGB", subset(it, ["Red", "Green", "Blue"])) for s, it in four_named]
        + [(s, load(s, size)) for s in THREE],
    }


def measure(items, methods):
    scores = {m: [] for m in methods}
    for _, (ms, pan, sensor, ratio) in items:
        ms_lr, pan_lr = wald_degrade(ms, pan, sensor, ratio)
        for m in methods:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fused = fuse_classical(m, ms_lr, pan_lr, sensor, ratio)
                q = reduced_resolution_indices(ms, np.clip(fused, 0, None), ratio=ratio, sensor=sensor)
            scores[m].append((q["Q2n"], q["SAM"], q["ERGAS"]))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=128, help="crop side in MS pixels (reference size)")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    methods = list_methods()
    t0 = time.time()
    for family, items in families(args.size).items():
        scores = measure(items, methods)
        q = {m: np.array([s[0] for s in v]) for m, v in scores.items()}
        stacked = np.stack([q[m] for m in methods])
        wins = {m: int((stacked.argmax(0) == i).sum()) for i, m in enumerate(methods)}
        order = sorted(methods, key=lambda m: -q[m].mean())
        print(f"\n### {family}: {len(items)} scenes ({', '.join(s.split('/')[-1] for s, _ in items)})\n")
        print("| method | Q2n mean | Q2n min | SAM mean | ERGAS mean | best Q2n on |")
        print("|---|---:|---:|---:|---:|---:|")
        for m in order:
            arr = np.array(scores[m])
            print(f"| {m} | {arr[:, 0].mean():.4f} | {arr[:, 0].min():.4f} | {arr[:, 1].mean():.3f} | "
                  f"{arr[:, 2].mean():.3f} | {wins[m]} |")
    print(f"\n({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
