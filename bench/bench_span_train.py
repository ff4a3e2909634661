"""LightNet training step: SpanConv evaluated densely (``compute="dense"``) vs in the paper's
factorised form (``compute="factorised"``), same parameters, interleaved repeats.

    python bench/bench_span_train.py [--threads 2] [--batch 8] [--steps 20] [--rounds 2]

One step = forward + L1 loss + backward + Adam step on random 64 x 64 patches (8 bands). Prints
the mean step time of each form per round and the ratio factorised / dense.
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F


def step_time(net: torch.nn.Module, batch, steps: int) -> float:
    ms, pan, lms, gt = batch
    opt = torch.optim.Adam(net.parameters(), lr=1e-9)
    for i in range(steps + 3):
        if i == 3:
            t0 = time.perf_counter()
        loss = F.l1_loss(net(ms, pan, lms), gt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from pansharpen.models import create

    g = torch.Generator().manual_seed(0)
    ms = torch.rand(args.batch, 8, 16, 16, generator=g)
    batch = (ms, torch.rand(args.batch, 1, 64, 64, generator=g), F.interpolate(ms, scale_factor=4),
             torch.rand(args.batch, 8, 64, 64, generator=g))
    nets = {}
    for form in ("factorised", "dense"):
        torch.manual_seed(0)
        nets[form] = create("lightnet", init="balanced", compute=form)
    print(f"LightNet training step, batch {args.batch}, 64 x 64, {args.threads} threads")
    for r in range(args.rounds):
        t = {form: step_time(net, batch, args.steps) for form, net in nets.items()}
        print(f"round {r + 1}: factorised {t['factorised'] * 1e3:.1f} ms, dense {t['dense'] * 1e3:.1f} ms, "
              f"ratio {t['factorised'] / t['dense']:.2f}x")


if __name__ == "__main__":
    main()
