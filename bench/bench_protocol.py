"""Time the protocol primitives on metric-sized inputs (not run by CI).

Usage: python bench/bench_protocol.py [--repeat 5] [--images 20]

Prints the best-of-``repeat`` wall time (and process CPU time, all threads: a better guide on a
busy machine) of mtf_filter, interp23tap, imresize (bicubic 1/4) and
wald_degrade on one 8 x 512 x 512 float64 image and on a stack of ``images`` such images
(one call on the (N, 8, 512, 512) batch and a loop of per-image calls).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from pansharpen.protocol import get_sensor, imresize, interp23tap, mtf_filter, wald_degrade


def best_of(fn, repeat: int) -> tuple[float, float]:
    """Best wall time and best process CPU time (all threads) over ``repeat`` calls, seconds."""
    fn()  # warm caches (kernel spectra, contribution matrices)
    walls, cpus = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - start_cpu)
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    sensor = get_sensor("WV3")
    one = rng.uniform(0, 2047, (8, 512, 512))
    one_lr = rng.uniform(0, 2047, (8, 128, 128))
    pan = rng.uniform(0, 2047, (1, 512, 512))
    batch = rng.uniform(0, 2047, (args.images, 8, 512, 512))
    batch_lr = rng.uniform(0, 2047, (args.images, 8, 128, 128))
    cases = [
        ("mtf_filter   8x512x512", lambda: mtf_filter(one, sensor)),
        ("interp23tap  8x128x128 -> 512", lambda: interp23tap(one_lr, 4)),
        ("imresize 1/4 8x512x512", lambda: imresize(one, 0.25)),
        ("imresize 1/4 PAN 512x512", lambda: imresize(pan, 0.25)),
        ("wald_degrade 8x512x512 + PAN", lambda: wald_degrade(one, pan, sensor)),
        (f"mtf_filter   {args.images} images, batch", lambda: mtf_filter(batch, sensor)),
        (f"mtf_filter   {args.images} images, loop", lambda: [mtf_filter(b, sensor) for b in batch]),
        (f"interp23tap  {args.images} images, batch", lambda: interp23tap(batch_lr, 4)),
        (f"interp23tap  {args.images} images, loop", lambda: [interp23tap(b, 4) for b in batch_lr]),
        (f"imresize 1/4 {args.images} images, batch", lambda: imresize(batch, 0.25)),
        (f"imresize 1/4 {args.images} images, loop", lambda: [imresize(b, 0.25) for b in batch]),
    ]
    t32 = torch.from_numpy(one_lr[None]).float().requires_grad_(True)
    cases.append(("interp23tap  torch f32 autograd 1x8x128x128", lambda: interp23tap(t32, 4).sum().backward()))
    print(f"cpus={os.cpu_count()} torch_threads={torch.get_num_threads()} numpy={np.__version__} "
          f"torch={torch.__version__} load={os.getloadavg()[0]:.1f}")
    print(f"{'case':<45s} {'wall ms':>9s} {'cpu ms':>9s}")
    for name, fn in cases:
        wall, cpu = best_of(fn, args.repeat)
        print(f"{name:<45s} {wall * 1000:9.1f} {cpu * 1000:9.1f}")


if __name__ == "__main__":
    main()
