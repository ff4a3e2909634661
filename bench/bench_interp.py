"""interp23tap (numpy, float64): the polyphase block products against the zero-insert steps.

Both forms run in the same process, interleaved, on the same data (uniform DN in 0..2047), one
band at a time as ``interp23tap`` does, with one BLAS thread (as inside classical fusion) unless
``--blas-threads`` says otherwise. The baseline is the step-wise form the numpy path ran before
(``log2(R)`` x2 steps: zero-insert, 23-tap circular filter of rows then columns, only the new
samples computed; :func:`pansharpen.protocol.interp._upsample_axis`). Printed per case: best time
of the rounds for each form, the speed-up, the largest difference (float rounding), and the
essential arithmetic rate: the multiply-adds of the polyphase filters' nonzero taps on every
new sample (``(R - 1) / R`` of each axis' samples) per second.

    python bench/bench_interp.py [--rounds 5] [--ratio 4] [--blas-threads 1]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from pansharpen.protocol.interp import _polyphase, _upsample_axis, interp23tap

CASES = (("fuser tile band", (1, 148, 148)), ("fuser tile, 8 bands", (8, 148, 148)),
         ("statistics strip, 8 bands", (8, 52, 835)), ("whole WV3 MS, 8 bands", (8, 835, 835)))


def steps_form(x: np.ndarray, ratio: int) -> np.ndarray:
    """The zero-insert steps, one band at a time (the numpy form before the polyphase products)."""
    c, h, w = x.shape
    out = np.empty((c, h * ratio, w * ratio))
    steps = ratio.bit_length() - 1
    for k in range(c):
        t = x[k]
        for step in range(steps):
            t = _upsample_axis(t, 0, samples_at_odd=step == 0)
            t = _upsample_axis(t, 1, samples_at_odd=step == 0, out=out[k] if step == steps - 1 else None)
    return out


def essential_macs(shape: tuple[int, int, int], ratio: int) -> int:
    """Multiply-adds of the nonzero polyphase taps on the new samples (columns, then rows)."""
    table, _ = _polyphase(ratio)
    taps = [np.count_nonzero(row) for row in table if np.count_nonzero(row) > 1]  # the identity phase is a copy
    c, h, w = shape
    per_sample = sum(taps) / ratio  # mean over the R phases of one axis
    return int(c * per_sample * (h * w * ratio + h * ratio * w * ratio))


def best_time(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ratio", type=int, default=4)
    parser.add_argument("--blas-threads", type=int, default=1)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"ratio {args.ratio}, {args.blas_threads} BLAS thread(s), best of {args.rounds} interleaved rounds")
    print(f"{'case':28s} {'shape':>14s} {'steps':>9s} {'polyphase':>10s} {'speed-up':>9s} {'max diff':>9s} "
          f"{'GMAC/s':>7s}")
    with threadpool_limits(args.blas_threads):
        for name, shape in CASES:
            x = rng.uniform(0, 2047, shape)
            want, got = steps_form(x, args.ratio), interp23tap(x, args.ratio)
            rounds = max(1, args.rounds if shape[-1] < 500 else args.rounds // 2)
            t_steps, t_poly = float("inf"), float("inf")
            for _ in range(rounds):  # interleaved
                t_steps = min(t_steps, best_time(lambda x=x: steps_form(x, args.ratio), 1))
                t_poly = min(t_poly, best_time(lambda x=x: interp23tap(x, args.ratio), 1))
            rate = essential_macs(shape, args.ratio) / t_poly / 1e9
            print(f"{name:28s} {'x'.join(map(str, shape)):>14s} {t_steps * 1e3:7.2f}ms {t_poly * 1e3:8.2f}ms "
                  f"{t_steps / t_poly:8.2f}x {np.abs(got - want).max():9.1e} {rate:7.2f}")


if __name__ == "__main__":
    main()
