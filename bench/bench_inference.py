"""CPU inference forms of the fusion networks: eager, fold, trace, each with and without the
allocator tuning of ``pansharpen.runtime`` (what NetworkFuser runs per sub-tile).

    python bench/bench_inference.py [--size 568] [--threads 2] [--runs 7]
                                    [--models lgpconv-net-wv3 lightnet-wv3 pnn ...]

Names ending in ``-wv3`` are the bundled weights; others are random-weight networks (speed only).
Each (model, form, allocator) case runs in a fresh process (the allocator setting is
process-wide and one-way), batch 1, 8 bands, a PAN input of ``--size`` pixels (568 = one 512
sub-tile plus the 28-pixel LGPConv-Net margin). Prints the median forward time, microseconds per
input pixel, minor page faults per forward, the speed-up over the eager form with the default
allocator measured in the same run, and the largest difference from the eager output.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, os, resource, statistics, sys, time, warnings
warnings.filterwarnings("ignore")
import torch
name, form, tuned, size, threads, runs = sys.argv[1], sys.argv[2], sys.argv[3] == "1", *map(int, sys.argv[4:7])
torch.set_num_threads(threads)
from pansharpen.runtime import retain_freed_memory
from pansharpen.models import create, load, bundled_weights
from pansharpen.models.inference import inference_module
if tuned:
    retain_freed_memory()
bundled = bundled_weights()
model = load(bundled[name]) if name in bundled else create(name, bands=8)
model.eval()
g = torch.Generator().manual_seed(0)
ms = torch.rand(1, 8, size // 4, size // 4, generator=g)
pan, lms = torch.rand(1, 1, size, size, generator=g), torch.rand(1, 8, size, size, generator=g)
engine, used = inference_module(model, form)
with torch.no_grad():
    want = model(ms, pan, lms)
    for _ in range(2):
        got = engine(ms, pan, lms)
    times, faults = [], []
    for _ in range(runs):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        engine(ms, pan, lms)
        times.append(time.perf_counter() - t0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({"form": used, "seconds": statistics.median(times), "faults": statistics.median(faults),
                  "max_diff": float((got - want).abs().max())}))
"""


def run_case(name: str, form: str, tuned: bool, size: int, threads: int, runs: int) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, name, form, "1" if tuned else "0", str(size), str(threads),
                          str(runs)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=568)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--models", nargs="*", default=["lgpconv-net-wv3", "lightnet-wv3"])
    args = ap.parse_args()
    import torch

    print(f"torch {torch.__version__}, {args.threads} threads, PAN {args.size} x {args.size}, 8 bands, batch 1, "
          f"median of {args.runs}")
    print(f"{'model':18s} {'form':6s} {'allocator':9s} {'ms':>8s} {'us/px':>7s} {'faults':>8s} {'speed-up':>8s} "
          f"{'max diff':>9s}")
    for name in args.models:
        base = None
        for tuned in (False, True):
            for form in ("eager", "fold", "trace"):
                r = run_case(name, form, tuned, args.size, args.threads, args.runs)
                base = base or r["seconds"]
                print(f"{name:18s} {r['form']:6s} {'tuned' if tuned else 'default':9s} {r['seconds'] * 1e3:8.1f} "
                      f"{r['seconds'] / args.size**2 * 1e6:7.3f} {r['faults']:8.0f} {base / r['seconds']:7.2f}x "
                      f"{r['max_diff']:9.1e}", flush=True)


if __name__ == "__main__":
    main()
