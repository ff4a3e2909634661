"""Folded vs unfolded LightNet and LGPConv-Net on CPU: latency and agreement.

    python bench/bench_fold.py [--size 512] [--bands 8] [--runs 7] [--threads 2]

Batch 1, ``torch.set_num_threads(threads)``, eval + no_grad, float32, random weights with
non-zero biases. Runs of the unfolded and folded forms are interleaved (the CPU may be
shared: interleaving exposes both forms to the same load) and the median of ``runs``
timings per form is reported, with their ratio.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from pansharpen.models import create


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench(name: str, size: int, bands: int, runs: int, options: dict) -> dict:
    torch.manual_seed(0)
    model = create(name, bands=bands, **options).eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if "bias" in pname:
                p.normal_(0, 0.01)
    folded = model.fold()
    ms = torch.rand(1, bands, size // 4, size // 4)
    pan = torch.rand(1, 1, size, size)
    lms = torch.rand(1, bands, size, size)
    times = {"unfolded": [], "folded": []}
    with torch.no_grad():
        ref = model(ms, pan, lms)
        got = folded(ms, pan, lms)
        for _ in range(runs):
            times["unfolded"].append(_timed(lambda: model(ms, pan, lms)))
            times["folded"].append(_timed(lambda: folded(ms, pan, lms)))
    med = {k: statistics.median(v) for k, v in times.items()}
    rel = float((got - ref).abs().max() / ref.abs().max())
    return {"name": name, "unfolded_s": med["unfolded"], "folded_s": med["folded"], "speedup": med["unfolded"] / med["folded"], "max_rel_err": rel}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--bands", type=int, default=8)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {args.size}x{args.size}, {args.bands} bands, batch 1")
    print(f"{'model':<14} {'unfolded s':>11} {'folded s':>9} {'speed-up':>9} {'max rel err':>12}")
    # LightNet's SpanConv layers evaluate densely by default; "factorised" is the paper's form
    for label, name, options in (("lightnet", "lightnet", {"compute": "factorised"}),
                                 ("lightnet-dense", "lightnet", {"compute": "dense"}),
                                 ("lgpconv-net", "lgpconv-net", {})):
        r = bench(name, args.size, args.bands, args.runs, options)
        r["name"] = label
        print(f"{r['name']:<14} {r['unfolded_s']:>11.3f} {r['folded_s']:>9.3f} {r['speedup']:>8.2f}x {r['max_rel_err']:>12.1e}")


if __name__ == "__main__":
    main()
