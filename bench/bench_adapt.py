"""Full-resolution adaptation on real products, against the best classical method (docs/adaptation.md).

Usage: python bench/bench_adapt.py [--minutes 2] [--products wv3-bgrn,wv2-bgrn,...] [--size 256]
       [--model detail-net] [--target ms|match|one] [--spatial-weight W] [--qnr-weight W]
       [--scale-weight W] [--injection hpm|hpm-h|fs|auto]
       [--iterations N] [--out bench-adapt.json] [--threads 2]

For each product (a crop of ``--size`` MS pixels from the top-left corner offset by 100 pixels):

* **full resolution**: :func:`pansharpen.training.adapt_full.adapt_full_resolution` adapts the
  network on the product (``--minutes``), and the held-out windows it chose (bottom strip, never
  trained on) are fused by the starting network, the adapted one and every classical method;
  all are scored with the no-reference indices (HQNR, D_lambda_K, D_s, R-Q2n, R-SAM, R-ERGAS,
  D_rho). The classical method with the best HQNR is "best classical".
* **reduced resolution**: the product is Wald-degraded (MTF + decimation of the MS, bicubic PAN),
  the network is adapted on the degraded pair in the same way (the original MS is never shown to
  it), and the held-out windows are scored against the original MS with Q2n, SAM and ERGAS;
  "best classical" is the method with the best Q2n.

Products: ``wv3`` / ``wv2`` (dgsamples, 8 bands), ``wv3-bgrn`` / ``wv2-bgrn`` (their B, G, R, NIR1
bands), and the full-resolution pairs of ../shared/data: ``ikonos`` (vhr4/grip_ikonos),
``osman`` (vhr4/osman_4band), ``koshizuka`` (vhr4/koshizuka_4band), ``geoeye1`` (vhr4/grip_geoeye1)
``grip`` / ``grip-bgrn`` (worldview8/grip_wv2) and ``l7-NN`` (landsat/fusebox_l7_NN, its Blue, Green,
Red and NIR bands: Landsat-7 ETM+, ratio 2, 8-bit, the catalogue's L7 sensor) and ``pm_<NAME>``
(worldview8/pairmax_<NAME>_RR, e.g. ``pm_W3_Muni_Mix-bgrn``: PAirMax WV2/WV3 pairs of 128 x 128 MS
pixels, read as arrays: their half-pixel grid phase is not used, by any method). Every product starts from ``--model``
(default: a fresh ``detail-net``, the adaptation's default when no bundled network fits; bundled
weights by name). The last lines check issue 17's target per product (beats the best classical
method on FR HQNR and on RR Q2n). Prints a markdown table and the load average; writes every
number to ``--out``. ``--iterations N`` runs a fixed number of steps (comparable under any load).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: every classical method of the project; "best classical" is the best of these (EXP, the plain
#: interpolation, is scored too but is not a pansharpening method: it has no detail to lose D_s on)
CLASSICAL = ("bt-h", "bdsd", "bdsd-pc", "gs", "gsa", "c-gsa", "pracs", "awlp", "mtf-glp", "mtf-glp-fs", "mtf-glp-hpm",
             "mtf-glp-hpm-h", "mtf-glp-cbd", "mf", "brovey")
SHARED = Path(os.environ.get("PANSHARPEN_SHARED", Path(__file__).resolve().parents[2] / "shared"))


#: Landsat-7 FuseBox scenes in ../shared/data/landsat: band order B3 Red, B2 Green, B1 Blue, B4 NIR, SWIR1, SWIR2
LANDSAT_BGRN = [2, 1, 0, 3]


def load_product(name: str, size: int):
    """``(ms (C,h,w), pan (1,Rh,Rw), sensor, ratio R)`` in DN, float64."""
    import rasterio
    from rasterio.windows import Window

    from pansharpen.io.samples import sample_product
    from pansharpen.protocol.sensors import generic_sensor, get_sensor

    base = name.split("-")[0]
    ratio = 4
    if base.startswith("l7"):  # l7-31: landsat/fusebox_l7_31, its B, G, R, NIR bands (ratio 2, 8-bit)
        folder = SHARED / "data" / "landsat" / f"fusebox_l7_{int(name.split('-')[1]):02d}"
        pan_p, ms_p, off, ratio = folder / "pan.tif", folder / "ms.tif", 0, 2
        sensor = get_sensor("L7").with_bands([0, 1, 2, 3])
    elif base.startswith("pm_"):  # pm_W3_Muni_Mix: worldview8/pairmax_W3_Muni_Mix_RR (8 bands, 128 x 128 MS)
        folder = SHARED / "data" / "worldview8" / f"pairmax_{base[3:]}_RR"
        pan_p, ms_p, off = folder / "pan.tif", folder / "ms.tif", 0
        sensor = get_sensor({"W2": "WV2", "W3": "WV3"}[base[3:5]])
    elif base in ("wv3", "wv2"):
        pan_p, ms_p = sample_product(base.upper())
        sensor = get_sensor(base.upper())
        off = 100
    else:
        folder = {"ikonos": "vhr4/grip_ikonos", "osman": "vhr4/osman_4band", "grip": "worldview8/grip_wv2",
                  "geoeye1": "vhr4/grip_geoeye1", "koshizuka": "vhr4/koshizuka_4band"}[base]
        pan_p, ms_p = SHARED / "data" / folder / "pan.tif", SHARED / "data" / folder / "ms.tif"
        sensor = {"ikonos": get_sensor("IKONOS"), "osman": generic_sensor((0.3,) * 4, 0.15, 11, name="osman"),
                  "grip": get_sensor("WV2"), "geoeye1": get_sensor("GE1"),
                  "koshizuka": generic_sensor((0.3,) * 4, 0.15, 16, name="koshizuka")}[base]
        off = 0
    with rasterio.open(ms_p) as ds:
        n = min(size, ds.height - off, ds.width - off)
        n -= n % ratio  # the reduced-resolution copy divides the MS by the ratio
        ms = ds.read(window=Window(off, off, n, n)).astype(np.float64)
    with rasterio.open(pan_p) as ds:
        pan = ds.read(window=Window(ratio * off, ratio * off, ratio * n, ratio * n)).astype(np.float64)
    if base.startswith("l7"):
        ms = ms[LANDSAT_BGRN]
    if name.endswith("-bgrn"):
        idx = [1, 2, 4, 6]
        ms, sensor = ms[idx], sensor.with_bands(idx)
    return ms, pan, sensor, ratio


def sources(ms: np.ndarray, pan: np.ndarray):
    from pansharpen.io.sources import ArraySource

    return ArraySource(pan, path="pan"), ArraySource(ms, path="ms")


def classical_window(method: str, product, r0: int, c0: int, size: int, sensor, consistent: bool = False):
    """A classical method's fusion of one window (with context), clipped; ``consistent``: followed by
    the consistency projection (context beyond its reach)."""
    from pansharpen.classical.registry import fuse_classical
    from pansharpen.protocol.consistency import consistency_reach, project_consistent

    r = product.ratio
    m = -(-consistency_reach(sensor.ms_gnyq, r) // r) + 8 if consistent else 8
    ms, _, _ = product.read(r0, c0, size, margin=m)
    pan = product.pan_src.read(product.pan_window(r0, c0, size, m))
    out = np.asarray(fuse_classical(method, ms, pan, sensor, r))
    if consistent:
        out = project_consistent(out, ms, sensor.ms_gnyq, r)
    return np.clip(out[:, m * r: (m + size) * r, m * r: (m + size) * r], 0, sensor.max_value)


def fr_scores(fused_by_window, product, windows, size, sensor):
    from pansharpen.metrics.full import full_resolution_indices
    from pansharpen.metrics.reprojection import d_rho, reprojection_indices

    rows = []
    for fused, (r0, c0) in zip(fused_by_window, windows):
        ms, pan, _ = product.read(r0, c0, size)
        row = full_resolution_indices(fused, ms, pan, sensor, product.ratio, crop_to_blocks=True,
                                      max_value=sensor.max_value)
        row.update(reprojection_indices(fused, ms, sensor, product.ratio, max_value=sensor.max_value))
        row["D_rho"] = d_rho(fused, pan, product.ratio)
        rows.append(row)
    keys = ("HQNR", "D_lambda_K", "D_s", "R-Q2n", "R-SAM", "R-ERGAS", "D_rho")
    return {k: float(np.mean([row[k] for row in rows])) for k in keys}


def rr_scores(fused_by_window, gt, windows, size, ratio, max_value):
    from pansharpen.metrics.reduced import reduced_resolution_indices

    rows = []
    for fused, (r0, c0) in zip(fused_by_window, windows):
        ref = gt[:, r0 * ratio: (r0 + size) * ratio, c0 * ratio: (c0 + size) * ratio]
        rows.append(reduced_resolution_indices(ref, fused, ratio, max_value=max_value))
    return {k: float(np.mean([row[k] for row in rows])) for k in ("Q2n", "SAM", "ERGAS")}


def run_one(name: str, args, tmp: Path) -> dict:
    from pansharpen.protocol.wald import wald_degrade
    from pansharpen.training.adapt_full import (
        ProductWindows,
        _fuse_window,
        adapt_full_resolution,
        starting_model,
    )

    ms, pan, sensor, ratio = load_product(name, args.size)
    loss_options = {} if args.spatial_weight is None else {"spatial_weight": args.spatial_weight}
    loss_options["target"] = args.target
    if args.injection is not None:
        loss_options["injection"] = args.injection
    if args.qnr_weight is not None:
        loss_options["qnr_weight"] = args.qnr_weight
    if args.spectral_weight is not None:
        loss_options["spectral_weight"] = args.spectral_weight
    if args.scale_weight is not None:
        loss_options["scale_weight"] = args.scale_weight
    start = args.model
    if args.consistent is not None:
        loss_options["consistent"] = args.consistent
    result = {"product": name, "bands": ms.shape[0], "ms_size": list(ms.shape[1:]), "sensor": sensor.name,
              "ratio": ratio, "start": start}
    for mode in args.modes.split(","):
        if mode == "full":
            m_in, p_in = ms, pan
        else:
            m_lr, p_lr = wald_degrade(ms, pan, sensor, ratio)
            m_in, p_in = np.asarray(m_lr), np.asarray(p_lr)
        srcs = sources(m_in, p_in)
        h = m_in.shape[1]
        geometry = {"patch": 32 if h >= 160 else 16, "eval_size": 64 if h >= 192 else 32}
        t0 = time.perf_counter()
        res = adapt_full_resolution(None, None, tmp / f"{name}-{mode}.safetensors", model=start, sensor=sensor,
                                    minutes=None if args.iterations else args.minutes, iterations=args.iterations,
                                    overwrite=True, _sources=srcs, seed=0, lr=args.lr, **geometry, **loss_options)
        seconds = time.perf_counter() - t0
        product = ProductWindows(None, None, sources=srcs)
        held = [tuple(w) for w in res.record["held_out"]["windows"]]
        size = res.record["held_out"]["size"]
        norm = float(res.model.card.normaliser)
        # the start (as the adaptation built and, with --injection, set it) and the weights training
        # ended with, whether the keep rule kept them or not
        nets = {"adapted": res.model}
        for key, state in (("start", res.start_state), ("trained", res.trained_state)):
            nets[key] = starting_model(start, None, ms.shape[0], sensor, ratio, seed=0,
                                       consistent=res.model.card.options.get("consistent", False))[0]
            nets[key].load_state_dict(state)
            nets[key].card = res.model.card
        fused = {k: [_fuse_window(net.eval(), product, r0, c0, size, norm, sensor.max_value, "cpu")[0]
                     for r0, c0 in held] for k, net in nets.items()}
        for method in (*CLASSICAL, "exp"):
            fused[method] = [classical_window(method, product, r0, c0, size, sensor) for r0, c0 in held]
        if res.model.card.options.get("consistent"):  # the fair comparison: every classical method followed by the same projection
            for method in CLASSICAL:
                fused[method + "+P"] = [classical_window(method, product, r0, c0, size, sensor, True) for r0, c0 in held]
        projected = [k + "+P" for k in CLASSICAL if k + "+P" in fused]
        if mode == "full":
            scores = {k: fr_scores(v, product, held, size, sensor) for k, v in fused.items()}
            best = max(CLASSICAL, key=lambda k: scores[k]["HQNR"])
            best_p = max(projected, key=lambda k: scores[k]["HQNR"]) if projected else None
        else:
            scores = {k: rr_scores(v, ms, held, size, ratio, sensor.max_value) for k, v in fused.items()}
            best = max(CLASSICAL, key=lambda k: scores[k]["Q2n"])
            best_p = max(projected, key=lambda k: scores[k]["Q2n"]) if projected else None
        result[mode] = {"geometry": geometry, "scores": scores, "best_classical": best,
                        "best_classical_projected": best_p, "kept": res.kept, "iterations": res.iterations,
                        "start_injection": res.record.get("start_injection"),
                        "train_seconds": res.seconds, "total_seconds": seconds,
                        "cpu_seconds": res.record["cpu_seconds"],
                        "iterations_per_second": res.iterations / max(res.seconds, 1e-9),
                        "loss_history": [round(h["loss"], 5) for h in res.history],
                        "before": res.before, "after": res.after}
        print(f"{name} {mode}: {res.iterations} it in {res.seconds:.0f} s, kept {res.kept}, best classical {best}",
              flush=True)
    return result


def plateau_minutes(history_loss: list[float], seconds: float) -> float | None:
    """Minutes until the loss (moving mean of 10) first comes within 5 % of its final value."""
    if len(history_loss) < 20:
        return None
    x = np.convolve(history_loss, np.ones(10) / 10, mode="valid")
    final = x[-1]
    hit = int(np.argmax(x <= final * 1.05))
    return (hit + 10) / len(history_loss) * seconds / 60


def table(results: list[dict]) -> str:
    lines = ["| product | mode | start | trained | adapted (written) | best classical | classical value | kept | iterations | min |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for mode, key in (("full", "HQNR"), ("reduced", "Q2n")):
            if mode not in r:
                continue
            m = r[mode]
            s = m["scores"]
            start = f"{m['before']['HQNR']:.4f}" if mode == "full" else (f"{s['start'][key]:.4f}" if "start" in s else "-")
            lines.append(f"| {r['product']} | {mode} {key} | {start} | {s['trained'][key]:.4f} | {s['adapted'][key]:.4f} | {m['best_classical']} | "
                         f"{s[m['best_classical']][key]:.4f} | {m['kept']} | {m['iterations']} | "
                         f"{m['train_seconds'] / 60:.1f} |")
    return "\n".join(lines)


def verdicts(results: list[dict]) -> str:
    """Issue 17's target per product: the adapted network beats the best classical method on the
    full-resolution HQNR *and* on the reduced-resolution Q2n of the held-out windows."""
    lines, wins = [], 0
    for r in results:
        if "full" not in r or "reduced" not in r:
            continue
        fr, rr = r["full"]["scores"], r["reduced"]["scores"]
        b_fr, b_rr = r["full"]["best_classical"], r["reduced"]["best_classical"]
        ok_fr = fr["adapted"]["HQNR"] > fr[b_fr]["HQNR"]
        ok_rr = rr["adapted"]["Q2n"] > rr[b_rr]["Q2n"]
        wins += ok_fr and ok_rr
        lines.append(f"{r['product']}: HQNR {fr['adapted']['HQNR']:.4f} vs {b_fr} {fr[b_fr]['HQNR']:.4f} "
                     f"({'+' if ok_fr else '-'}), RR Q2n {rr['adapted']['Q2n']:.4f} vs {b_rr} {rr[b_rr]['Q2n']:.4f} "
                     f"({'+' if ok_rr else '-'})")
    lines.append(f"beats the best classical method on both: {wins} of {len(lines)} products")
    wins_p, n_p = 0, 0
    for r in results:
        if "full" not in r or "reduced" not in r or not (r["full"].get("best_classical_projected")
                                                          and r["reduced"].get("best_classical_projected")):
            continue  # the comparison needs the projected methods in both modes (where auto took it in both)
        fr, rr = r["full"]["scores"], r["reduced"]["scores"]
        b_fr, b_rr = r["full"]["best_classical_projected"], r["reduced"]["best_classical_projected"]
        ok = fr["adapted"]["HQNR"] > fr[b_fr]["HQNR"] and rr["adapted"]["Q2n"] > rr[b_rr]["Q2n"]
        wins_p, n_p = wins_p + ok, n_p + 1
        lines.append(f"{r['product']} against the projected classical methods: HQNR {b_fr} {fr[b_fr]['HQNR']:.4f}, "
                     f"RR Q2n {b_rr} {rr[b_rr]['Q2n']:.4f} ({'+' if ok else '-'})")
    if n_p:
        lines.append(f"beats every classical method followed by the same projection on both: {wins_p} of {n_p} products")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=2.0)
    p.add_argument("--products", default="wv3-bgrn,wv2-bgrn,ikonos,osman,wv3,wv2")
    p.add_argument("--iterations", type=int, default=None, help="fixed iterations instead of --minutes (smoke runs)")
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--model", default="detail-net", help="start: an architecture (fresh) or bundled weights")
    p.add_argument("--modes", default="full,reduced", help="full and/or reduced")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--spatial-weight", type=float, default=None)
    p.add_argument("--qnr-weight", type=float, default=None)
    p.add_argument("--scale-weight", type=float, default=None)
    p.add_argument("--spectral-weight", type=float, default=None)
    p.add_argument("--target", default="ms", help="spatial target of the loss: ms, match or one")
    p.add_argument("--injection", default=None, help="a fresh detail-net's start: hpm, hpm-h, fs or auto (default: adapt's)")
    p.add_argument("--consistent", nargs="?", const="on", default=None, choices=("on", "off", "auto"),
                   help="a fresh detail-net ends with the consistency projection: on, off or auto (default: adapt's)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="bench-adapt.json")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    results = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as d:
        for name in args.products.split(","):
            results.append(run_one(name, args, Path(d)))
            Path(args.out).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    load_after = os.getloadavg()
    print(table(results))
    for r in results:
        for mode in ("full", "reduced"):
            if mode in r:
                m = r[mode]
                print(f"{r['product']} {mode}: {m['iterations_per_second']:.3f} it/s wall, "
                      f"{m['iterations'] / max(m['cpu_seconds'], 1e-9):.3f} it per CPU-second, plateau after "
                      f"{plateau_minutes(m['loss_history'], m['train_seconds'])} min")
    print(verdicts(results))
    print(f"load average before {load_before}, after {load_after}; torch threads {args.threads}")
    Path(args.out).write_text(json.dumps({"args": vars(args), "results": results, "load": [load_before, load_after]},
                                         indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
