"""Time the reference-exact indices on a PanCollection-sized test set.

Reduced resolution: 20 images of 8 x 256 x 256 (fused vs reference); full resolution: 20 images
of 8 x 512 x 512 (fused vs MS 8 x 128 x 128 + PAN), the MS expanded with interp23tap inside
``full_resolution_indices`` as when no ``lms`` is given. Data: smooth random fields in 0..2047 DN.
Target (issue 2, item 6): under 30 s in total on 2 cores.

    python bench/bench_metrics.py [--images 20] [--threads 2]
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import ndimage


def smooth_dn(rng: np.random.Generator, shape: tuple[int, ...], sigma: float = 4.0) -> np.ndarray:
    x = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(0,) * (len(shape) - 2) + (sigma, sigma))
    lo = x.min(axis=(-2, -1), keepdims=True)
    hi = x.max(axis=(-2, -1), keepdims=True)
    return np.round(60 + 1900 * (x - lo) / (hi - lo))


def make_data(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    gt = smooth_dn(rng, (n, 8, 256, 256))
    fused_rr = np.clip(gt + rng.normal(0, 25, gt.shape), 0, 2047)
    pan = smooth_dn(rng, (n, 1, 512, 512), sigma=3.0)
    band_gain = np.linspace(0.6, 1.1, 8)[None, :, None, None]
    ms = np.round(pan.reshape(n, 1, 128, 4, 128, 4).mean(axis=(3, 5)) * band_gain + rng.normal(0, 8, (n, 8, 128, 128)))
    fused_fr = np.clip(np.repeat(np.repeat(ms, 4, axis=2), 4, axis=3) + 0.4 * (pan - pan.mean()), 0, 2047)
    return gt, fused_rr, ms, pan, fused_fr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2, help="BLAS/FFT/torch threads")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    import torch

    torch.set_num_threads(args.threads)
    from pansharpen.metrics import aggregate, format_table, full_resolution_indices, reduced_resolution_indices

    gt, fused_rr, ms, pan, fused_fr = make_data(args.images)
    clocks = [(time.perf_counter(), time.process_time())]
    rr = reduced_resolution_indices(gt, fused_rr, ratio=4, crop=0)
    clocks.append((time.perf_counter(), time.process_time()))
    fr = full_resolution_indices(fused_fr, ms, pan, "WV3", ratio=4)
    clocks.append((time.perf_counter(), time.process_time()))
    print(format_table({"RR (random)": aggregate(rr)}))
    print(format_table({"FR (random)": aggregate(fr)}))
    # CPU time is reported too: on a shared machine wall time also counts other people's work.
    for label, (start, end) in zip(
        (f"reduced resolution, {args.images} x 8x256x256", f"full resolution,    {args.images} x 8x512x512"),
        zip(clocks, clocks[1:]),
    ):
        print(f"{label}: wall {end[0] - start[0]:6.2f} s   cpu {end[1] - start[1]:6.2f} s")
    wall, cpu = clocks[-1][0] - clocks[0][0], clocks[-1][1] - clocks[0][1]
    print(f"total: wall {wall:.2f} s, cpu {cpu:.2f} s (target < 30 s wall on 2 cores)")


if __name__ == "__main__":
    main()
