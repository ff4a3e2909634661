"""Ada3D speed and memory: our tap-loop implementation vs a naive one that materialises the
per-voxel kernel (B, C, L, H, W, 27), plus MACs per output pixel of the three networks.

Usage::

    python bench/bench_ada3d.py                       # 512 x 512 ours, 64 x 64 both, MAC table
    python bench/bench_ada3d.py --size 256 --naive-size 128 --repeats 3

Every configuration runs in a fresh subprocess (float32, batch 1, eval, no_grad,
``torch.set_num_threads(--threads)``, random U[0, 1) inputs, one warm-up at the same size
unless ``--no-warmup``, then the median of ``--repeats`` timed forwards), so each peak is
clean. Memory = peak RSS over the warm-up and timed forwards minus the RSS just before
the first forward, with the model and inputs already built (Linux: writing 5 to
``/proc/self/clear_refs`` resets VmHWM; then VmHWM - VmRSS). It counts everything the
forward allocates (activations, kernels, temporaries), not the weights or inputs.
Times: wall clock and process CPU time (``time.process_time``; on a shared machine with one
thread it is less sensitive to other jobs than wall time; with 2+ threads it includes
OpenMP spin-waiting).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from functools import partial

print = partial(print, flush=True)  # noqa: A001  (progress shows while the slow rows run)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def naive_ada3d_forward(layer, x, y, pooled=None):
    """Ada3D with the whole per-voxel kernel and the 27 shifted copies of x materialised."""
    import torch
    import torch.nn.functional as F

    B, C, L, H, W = x.shape
    cube_pooled, guide_pooled = layer.pool(x, y) if pooled is None else pooled
    spectral = layer.spectral_kernel(cube_pooled)  # (B,C,27,L)
    spatial = layer.spatial_kernel(y)  # (B,C,27,H,W)
    kernel = spectral.permute(0, 1, 3, 2)[:, :, :, None, None, :] * spatial.permute(0, 1, 3, 4, 2)[:, :, None]
    patches = F.pad(x, (1,) * 6).unfold(2, 3, 1).unfold(3, 3, 1).unfold(4, 3, 1).reshape(B, C, L, H, W, 27)
    out = (kernel * patches).sum(-1)
    spe, chan = layer.bias.global_terms(cube_pooled, guide_pooled, layer.bias_mode)
    spa = layer.bias.spatial_term(y, layer.bias_mode)
    return out + spe[..., None, None] * spa[:, :, None] * chan[..., None, None, None]


def child(args) -> None:
    import torch

    from pansharpen.layers.ada3d import Ada3D
    from pansharpen.models import create

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create(args.model, bands=args.bands).eval()
    if args.impl == "naive":
        Ada3D.forward = naive_ada3d_forward
    elif args.impl == "nostrips":
        for _, layer in model.ada3d_layers():
            layer.strip_bytes = 0
    g = torch.Generator().manual_seed(0)
    r = model.ratio
    ms = torch.rand(1, args.bands, args.size // r, args.size // r, generator=g)
    pan = torch.rand(1, model.guide_bands, args.size, args.size, generator=g)
    with torch.no_grad():
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak-RSS counter; the peak then covers the first forward too
        before = _rss_kib("VmRSS")
        if args.warmup:
            model(ms, pan)
        times = []
        cpu = []
        for _ in range(args.repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            out = model(ms, pan)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            del out
        peak = _rss_kib("VmHWM")
    mid = len(times) // 2
    print(json.dumps({"seconds": sorted(times)[mid], "cpu_seconds": sorted(cpu)[mid], "peak_delta_mib": (peak - before) / 1024}))


def run_child(args, impl: str, size: int) -> dict:
    cmd = [sys.executable, __file__, "--child", "--impl", impl, "--size", str(size), "--model", args.model,
           "--bands", str(args.bands), "--threads", str(args.threads), "--repeats", str(args.repeats)]
    if not args.warmup:
        cmd.append("--no-warmup")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def mac_table() -> None:
    from pansharpen.models import create

    print("\nMACs per output pixel (analytic; conv part equals torch FlopCounterMode, extra = 2*27*C*L per Ada3D layer)")
    print(f"{'model':<12}{'bands':>6}{'params':>11}{'conv MACs/px':>15}{'extra MACs/px':>15}{'total MACs/px':>15}{'GMAC @64^2':>12}")
    for name, bands in (("ada3d-pan", 8), ("ada3d-pan", 4), ("ada3d-hs", 191), ("ada3d-hs", 102), ("ada3d-hs", 145), ("ada3d-hisr", 31)):
        m = create(name, bands=bands)
        conv = m.conv_macs(64) / 4096
        print(f"{name:<12}{bands:>6}{m.card.params:>11,}{conv:>15,.0f}{m.extra_macs():>15,.0f}{m.macs_per_pixel():>15,.0f}"
              f"{m.macs_per_pixel() * 4096 / 1e9:>12.3f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="ada3d-pan")
    p.add_argument("--bands", type=int, default=8)
    p.add_argument("--size", type=int, default=512, help="PAN side for our implementation")
    p.add_argument("--naive-size", type=int, default=64, help="PAN side at which both implementations run")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--no-warmup", dest="warmup", action="store_false")
    p.add_argument("--nostrips", action="store_true", help="also run ours without strips at --size")
    p.add_argument("--skip-macs", action="store_true")
    p.add_argument("--skip-small", action="store_true", help="skip the side-by-side rows at --naive-size")
    p.add_argument("--skip-large", action="store_true", help="skip our row at --size")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="ours", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        return child(args)

    print(f"{args.model}, {args.bands} bands, float32, batch 1, eval + no_grad, torch threads {args.threads}, "
          f"median of {args.repeats} after {'one warm-up' if args.warmup else 'no warm-up'}; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    rows = [] if args.skip_small else [("ours", args.naive_size), ("naive", args.naive_size)]
    rows += [] if args.skip_large else [("ours", args.size)]
    if args.nostrips:
        rows.append(("nostrips", args.size))
    results = {}
    print(f"{'implementation':<16}{'size':>6}{'seconds':>10}{'us/pixel':>10}{'CPU s':>10}{'peak RSS delta MiB':>20}")
    for impl, size in rows:
        res = run_child(args, impl, size)
        results[(impl, size)] = res
        if "error" in res:
            print(f"{impl:<16}{size:>6}  failed: {res['error']}")
            continue
        print(f"{impl:<16}{size:>6}{res['seconds']:>10.2f}{res['seconds'] / size**2 * 1e6:>10.1f}{res['cpu_seconds']:>10.2f}"
              f"{res['peak_delta_mib']:>20.0f}")
    a, b = results.get(("ours", args.naive_size), {}), results.get(("naive", args.naive_size), {})
    if "seconds" in a and "seconds" in b:
        print(f"speed-up over the naive kernel at {args.naive_size}^2: {b['seconds'] / a['seconds']:.1f}x wall, "
              f"{b['cpu_seconds'] / a['cpu_seconds']:.1f}x process CPU time")
    c = results.get(("ours", args.size), {})
    if "seconds" in c and "seconds" in b:
        per_px = (b["seconds"] / args.naive_size**2) / (c["seconds"] / args.size**2)
        print(f"per-pixel speed-up, ours at {args.size}^2 vs naive at {args.naive_size}^2: {per_px:.1f}x")
    if not args.skip_macs:
        mac_table()


if __name__ == "__main__":
    main()
