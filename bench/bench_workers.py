"""Scale-out of `fuse`: serial against a local Dask cluster of N workers x T torch threads each.

    python bench/bench_workers.py [--size 2048] [--rounds 2] [--model lgpconv-net-wv3]
                                  [--configs 0x2 1x2 2x1 2x2 4x1] [--tile 512 1024]

Each case is ``NxT``: N Dask workers (0 = serial, this process) with T torch threads each, run in a fresh
process with the CLI's allocator setting (``retain_freed_memory``) on a PAN crop of ``--size`` pixels of
the dgsamples WV3 product (``--size 0``: the full scene). Cases are interleaved over ``--rounds`` rounds
(the machine may be shared; the best of the rounds is kept) and printed with the ratio to the serial
case of the same tile size: ``speed-up`` > 1 means faster than serial. ``efficiency`` = speed-up / (N x T)
x (serial threads): the fraction of the added cores that pays.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classical import crop_files  # noqa: E402

CHILD = r"""
import json, resource, sys, time, torch
from pansharpen.runtime import retain_freed_memory
retain_freed_memory()
from pansharpen.fusion.fuse import fuse
pan, ms, out, model, workers, threads, tile = sys.argv[1:8]
workers, threads = int(workers), int(threads)
if workers == 0:
    torch.set_num_threads(threads)
t = time.perf_counter()
fuse(pan, ms, out, model=model, sensor="WV3", overwrite=True, tile=int(tile), workers=workers or None,
     threads_per_worker=threads if workers else None)
dt = time.perf_counter() - t
print(json.dumps({"seconds": dt, "cpu": time.process_time()}))
"""


def run(pan, ms, out, model, workers, threads, tile) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, str(pan), str(ms), str(out), model, str(workers), str(threads),
                          str(tile)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default="lgpconv-net-wv3")
    ap.add_argument("--configs", nargs="*", default=["0x2", "1x2", "2x1", "2x2"])
    ap.add_argument("--tile", type=int, nargs="*", default=[512, 1024])
    args = ap.parse_args()
    import os

    from pansharpen.io.samples import sample_product

    configs = [tuple(map(int, c.split("x"))) for c in args.configs]
    if (0, 2) not in configs:
        configs.insert(0, (0, 2))
    pan, ms = sample_product("WV3")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if args.size:
            pan, ms = crop_files(pan, ms, args.size, folder)
        best: dict = {}
        for _ in range(args.rounds):
            for tile in args.tile:
                for w, t in configs:
                    r = run(pan, ms, folder / "o.tif", args.model, w, t, tile)
                    key = (tile, w, t)
                    best[key] = min(best.get(key, float("inf")), r["seconds"])
        print(f"{args.model}, PAN {args.size or 3340} px, {os.cpu_count()} cores, best of {args.rounds} interleaved rounds")
        print(f"{'tile':>5} {'workers x threads':>18} {'seconds':>8} {'speed-up':>9} {'efficiency':>11}")
        for tile in args.tile:
            serial = best[(tile, 0, 2)]
            for w, t in configs:
                s = best[(tile, w, t)]
                cores = (w or 1) * t
                print(f"{tile:5d} {('serial' if w == 0 else f'{w} x {t}'):>18} {s:8.2f} {serial / s:8.2f}x "
                      f"{serial / s * 2 / cores:10.2f}")


if __name__ == "__main__":
    main()
