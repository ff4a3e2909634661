"""Training throughput of every registered network (not run by CI).

Usage: python bench/bench_train.py [--threads 2] [--seconds 5] [--models lightnet,...] [--data SET_train.h5]
       [--warmup 2] [--min-steps 3] [--default-allocator]

For each network: one training step = forward + loss + backward + optimiser step, with the
batch size and loss of its paper preset, on random 64 x 64 PAN-scale patches with 8 bands
(MS 16 x 16, ratio 4; Ada3D-HISR gets a 3-channel guide). ``--warmup`` steps, then steps are
timed for at least ``--seconds`` (and at least ``--min-steps`` steps); prints patches per second
(wall clock), the median step time, and patches per CPU-second (process CPU time, all threads
summed), which is the figure to compare when the machine is shared: on an idle machine the wall
rate lies between it and ``threads`` times it. With ``--data`` it also prints the epoch time that throughput implies on
that training set (its patch count / patches per second).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def time_training(name: str, seconds: float, warmup: int = 2, min_steps: int = 3, bands: int = 8,
                  size: int = 64) -> tuple[int, float, float, float]:
    """``(batch, patches per second, median step seconds, patches per CPU-second)`` with the paper preset."""
    from pansharpen import models
    from pansharpen.training.losses import build_loss
    from pansharpen.training.presets import resolve_preset
    from pansharpen.training.train import make_optimiser

    torch.manual_seed(0)
    model = models.create(name, bands=bands)
    model.train()
    preset = resolve_preset(name)
    batch = preset.batch_size
    ratio = getattr(model, "ratio", 4)
    guide = getattr(model, "guide_bands", 1)
    gen = torch.Generator().manual_seed(0)
    ms = torch.rand(batch, bands, size // ratio, size // ratio, generator=gen)
    lms = torch.nn.functional.interpolate(ms, scale_factor=ratio, mode="bicubic", align_corners=False)
    pan = torch.rand(batch, guide, size, size, generator=gen)
    gt = torch.rand(batch, bands, size, size, generator=gen)
    loss_fn = build_loss(preset, ratio)
    opt = make_optimiser(preset, model.parameters())

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(ms, pan, lms), gt)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    times: list[float] = []
    cpu: list[float] = []
    start = time.perf_counter()
    while len(times) < min_steps or time.perf_counter() - start < seconds:
        t0, c0 = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = statistics.median(times)
    return batch, batch / med, med, batch / statistics.median(cpu)


def main() -> None:
    from pansharpen.models import list_models

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--models", default="", help="comma-separated names (default: every registered network)")
    parser.add_argument("--data", default=None, help="training set whose epoch time to estimate")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--min-steps", type=int, default=3)
    parser.add_argument("--default-allocator", action="store_true",
                        help="leave glibc's allocator as it is (pansharpen train tunes it: pansharpen.runtime)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if not args.default_allocator:
        from pansharpen.runtime import retain_freed_memory

        retain_freed_memory()
    names = [n for n in args.models.split(",") if n] or list_models()
    samples = None
    if args.data:
        from pansharpen.io.pancollection import open_pancollection

        with open_pancollection(args.data) as f:
            samples = len(f)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
          f"{load:.1f}; 8 bands, 64 x 64 patches, forward + backward + optimiser step, paper preset batch; "
          f"allocator {'default' if args.default_allocator else 'tuned'}")
    header = f"{'model':<22} {'batch':>5} {'patches/s':>10} {'step ms':>9} {'patches/CPU-s':>14}"
    if samples:
        header += f" {'epoch s (' + str(samples) + ' patches)':>26}"
    print(header)
    for name in names:
        try:
            batch, rate, med, cpu_rate = time_training(name, args.seconds, args.warmup, args.min_steps)
        except Exception as exc:  # a network that cannot take 8 bands, say: report and go on
            print(f"{name:<22} failed: {exc}")
            continue
        line = f"{name:<22} {batch:>5} {rate:>10.2f} {med * 1e3:>9.0f} {cpu_rate:>14.2f}"
        if samples:
            line += f" {samples / rate:>26.1f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
