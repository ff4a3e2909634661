"""Time the hyperspectral reduced-resolution indices on one 191 x 256 x 256 image (WDC-sized).

``hs_indices`` (SAM, ERGAS, PSNR, SSIM Gaussian 11x11, Q2n with the bands zero-padded to 256)
against the generic :mod:`pansharpen.metrics` functions on the same pair, with a check that
both give the same numbers. Target (issue 8, item 2): under 5 s on 2 cores. Data: smooth random
fields in 60..1960 DN with band-dependent gains, fused = reference + N(0, 25).

    python bench/bench_hs_metrics.py [--bands 191] [--size 256] [--threads 2] [--generic]

``--generic`` also times the generic Q2n (10-80 s here at 256 components: it builds the 256^3
Cayley-Dickson structure tensor with the onion_mult recursion and contracts it per block).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
from scipy import ndimage


def smooth_cube(rng: np.random.Generator, bands: int, size: int) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.normal(size=(3, size, size)), sigma=(0, 4, 4))
    mix = rng.uniform(0.2, 1.0, (bands, 3))  # every band a mixture of three spatial fields
    x = np.einsum("bk,khw->bhw", mix, field)
    lo = x.min(axis=(-2, -1), keepdims=True)
    hi = x.max(axis=(-2, -1), keepdims=True)
    return np.round(60 + 1900 * (x - lo) / (hi - lo))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bands", type=int, default=191)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2, help="BLAS/torch threads")
    parser.add_argument("--generic", action="store_true", help="also time the generic metrics (slow Q2n)")
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))
    from pansharpen import metrics
    from pansharpen.metrics.hyperspectral import hs_indices

    rng = np.random.default_rng(0)
    gt = smooth_cube(rng, args.bands, args.size)
    fused = np.clip(gt + rng.normal(0, 25, gt.shape), 0, 2047)
    load = os.getloadavg()[0]
    start = (time.perf_counter(), time.process_time())
    fast = hs_indices(gt, fused, ratio=4, data_range=2047)
    end = (time.perf_counter(), time.process_time())
    print("hs_indices:", ", ".join(f"{k} {v:.6f}" for k, v in fast.items()))
    print(f"{args.bands} x {args.size} x {args.size}: wall {end[0] - start[0]:.2f} s, cpu {end[1] - start[1]:.2f} s "
          f"(load average {load:.1f} on {os.cpu_count()} cpus; target < 5 s wall on 2 cores)")
    if args.generic:
        generic = {}
        for name, fn in (("SAM", lambda: metrics.sam(gt, fused)), ("ERGAS", lambda: metrics.ergas(gt, fused, 4)),
                         ("PSNR", lambda: metrics.psnr(gt, fused, 2047)), ("SSIM", lambda: metrics.ssim(gt, fused, 2047)),
                         ("Q2n", lambda: metrics.q2n(gt, fused))):
            t = time.perf_counter()
            generic[name] = fn()
            print(f"generic {name}: {generic[name]:.6f}  wall {time.perf_counter() - t:.2f} s")
        worst = max(abs(generic[k] - fast[k]) / max(abs(generic[k]), 1e-12) for k in generic)
        print(f"largest relative difference fast vs generic: {worst:.2e}")


if __name__ == "__main__":
    main()
