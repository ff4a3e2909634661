"""Scene fusion speed and memory: `pansharpen fuse` throughput for networks and classical methods,
with GDAL's weighted Brovey (a pansharpened VRT read through rasterio) measured in the same run.

    python bench/bench_scene.py [--size 1024] [--methods gsa mtf-glp-hpm] [--models lgpconv-net ...]
                                [--weights W.safetensors] [--full-scene] [--threads 2]
                                [--tile 512 1024] [--subtile 0 256] [--gdal-cli] [--rounds 2]
                                [--baseline-src DIR]
    python bench/bench_scene.py --full-scene --pipeline-compare --models lgpconv-net.wv-8band lightnet.wv-8band --rounds 2

``--gdal-cli`` also times GDAL's own command, ``gdal_pansharpen.py`` (weighted Brovey, cubic), writing a
GeoTIFF with the creation options of ``fuse`` (tiled 256, ``--compress`` codec, default DEFLATE,
predictor 2, all cores; ``fuse`` runs with the same codec and no overviews), and
uses it as the baseline of the ratios (install GDAL's tools for the benchmark only, e.g.
``apt-get install gdal-bin python3-gdal``). ``--rounds``: cases are repeated in interleaved rounds,
the best time and the largest peak are kept.

``--pipeline-compare``: instead, the ``pansharpen fuse PAN MS out.tif --model M -q`` command (default
output: LZW, overviews) for each of ``--models``: "serial" (``PANSHARPEN_PIPELINE=0
PANSHARPEN_ONEDNN_GRAPH=0``: read, compute, write one after another, the oneDNN-layout trace),
"pipelined" (reader and writer threads around the compute) and, for traced networks, "pipelined +
oneDNN Graph" (the per-shape post-op-fused trace, ``pansharpen.models.inference.TracedForm``);
``--variants`` picks among these and the same with GDAL's compression on one thread
(``--co NUM_THREADS=1``: the writer thread is the overlap). Cases are interleaved over
``--rounds``, with the fp32 matmul rate measured between the commands (``bench_floor.matmul_rate``,
``--threads`` threads); prints the best wall and CPU (user + sys) seconds and the largest peak RSS
of each, the ratio to serial, and the ratio to the run's FLOP floor (PAN pixels x
``macs_per_pixel()`` x 2 / the best matmul rate), with the load average at start and end.

Each case runs in a fresh subprocess (so peak RSS is its own) on a PAN crop of ``--size`` pixels of the
dgsamples WV3 product (``--full-scene``: the whole 3340 x 3340 scene). Prints seconds, megapixels per
second, the ratio of its time to GDAL's Brovey (below 1: faster than GDAL) and the peak resident memory. Networks without ``--weights`` run with
random weights (speed only).

``--whole-command``: each classical method is timed as the user runs it, the whole ``python -m
pansharpen fuse PAN MS OUT --method M --sensor WV3 --compress C --no-overviews -q`` command
(interpreter start, imports, planning, fusion, write), as ``gdal_pansharpen.py`` is; without it the
``fuse()`` call alone is timed in a child that has imported everything first.

Before whole-command timings the bytecode of both checkouts is written (``compile_bytecode``), as
``pip install`` writes an installed package's: a checkout run with ``PYTHONDONTWRITEBYTECODE=1`` would
otherwise compile its modules at every command (about 0.09 s of each; session 15).

``--baseline-src DIR`` (another checkout's ``src``, e.g. ``git archive main src | tar -x -C /tmp/main``):
each classical method and each network of ``--models`` (seeded random weights, the first
``--tile``/``--subtile``) also runs with that code, interleaved, and a before/after table gives
both times and peaks and the largest difference between the two output files (DN).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_classical import crop_files, time_gdal  # noqa: E402
from checkout_bytecode import compile_bytecode  # noqa: E402

CHILD = r"""
import json, resource, sys, time, torch
torch.set_num_threads(int(sys.argv[5]))
from pansharpen.runtime import retain_freed_memory
retain_freed_memory()  # as the pansharpen command does
from pansharpen.fusion.fuse import fuse
from pansharpen.models import create, save
kind, name, pan, ms, threads, out, weights, tile, subtile, compress = sys.argv[1:11]
from pansharpen.io.geotiff import WriteOptions
kwargs = {"tile": int(tile), "subtile": int(subtile) or None, "options": WriteOptions(compress=compress, overviews=False)}
if kind == "method":
    kwargs["method"] = name
elif weights != "-":
    kwargs["weights"] = weights
else:
    torch.manual_seed(0)  # the same random weights in both checkouts of --baseline-src
    model = create(name, bands=8); model.card.sensors = ["WV3"]
    kwargs["model"] = model
t = time.perf_counter()
fuse(pan, ms, out, sensor="WV3", overwrite=True, **kwargs)
dt = time.perf_counter() - t
try:  # this process's own high-water mark (ru_maxrss also counts the parent's RSS at the fork)
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": dt, "peak_mb": peak}))
"""


def run_child(kind, name, pan, ms, threads, out, weights="-", tile=512, subtile=256, compress="deflate", src=None):
    """One fusion in a fresh process (``src``: the ``pansharpen`` sources to import instead of this one's)."""
    env = dict(os.environ, PYTHONPATH=str(src)) if src else None
    res = subprocess.run(
        [sys.executable, "-c", CHILD, kind, name, str(pan), str(ms), str(threads), str(out), weights, str(tile),
         str(subtile), compress],
        capture_output=True, text=True, check=True, env=env,
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def timed_command(cmd, env=None) -> dict:
    """Wall and CPU (user + sys) seconds and peak RSS (MB) of the command ``cmd``. The peak comes from
    GNU time when installed (``ru_maxrss`` of a child forked from this process also counts this
    process's RSS at the fork, hundreds of MB once outputs were compared)."""
    import shutil

    gnu_time = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as peak_file:
        full = [gnu_time, "-f", "%M", "-o", peak_file.name, *cmd] if gnu_time else list(cmd)
        t = time.perf_counter()
        child = subprocess.Popen(full, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t
        err = child.stderr.read().decode()
        child.stderr.close()
        if os.waitstatus_to_exitcode(status):
            raise SystemExit(f"{' '.join(map(str, cmd))} failed: {err[-2000:]}")
        text = peak_file.read().strip().splitlines() if gnu_time else []
    peak = int(text[-1]) / 1024 if text and text[-1].isdigit() else usage.ru_maxrss / 1024
    return {"seconds": wall, "cpu": usage.ru_utime + usage.ru_stime, "peak_mb": peak}


def run_command(name, pan, ms, out, compress="deflate", src=None) -> dict:
    """Wall seconds and peak RSS (MB) of the whole ``python -m pansharpen fuse ... --method name`` command
    (``src``: the ``pansharpen`` sources to run instead of this one's)."""
    env = dict(os.environ, PYTHONPATH=str(src)) if src else dict(os.environ)
    cmd = [sys.executable, "-m", "pansharpen", "fuse", str(pan), str(ms), str(out), "--method", name, "--sensor", "WV3",
           "--compress", compress, "--no-overviews", "-q", "--overwrite"]
    return timed_command(cmd, env)


def time_gdal_cli(pan, ms, out, threads: int, compress: str = "deflate") -> float:
    """Seconds of ``gdal_pansharpen.py`` writing ``out`` with fuse's creation options (system Python)."""
    import shutil

    script = shutil.which("gdal_pansharpen.py") or shutil.which("gdal_pansharpen")
    if script is None:
        raise SystemExit("gdal_pansharpen.py is not installed (apt-get install gdal-bin python3-gdal)")
    cmd = ["/usr/bin/python3", script, str(pan), str(ms), str(out), "-r", "cubic", "-threads", str(threads), "-q",
           "-co", f"COMPRESS={compress.upper()}", "-co", "PREDICTOR=2", "-co", "TILED=YES", "-co", "BLOCKXSIZE=256",
           "-co", "BLOCKYSIZE=256", "-co", "NUM_THREADS=ALL_CPUS", "-co", "BIGTIFF=IF_SAFER"]
    Path(out).unlink(missing_ok=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


#: (label, environment, extra fuse arguments) of the pipeline comparison; the oneDNN Graph cases
#: only for traced networks
_OFF = {"PANSHARPEN_PIPELINE": "0", "PANSHARPEN_ONEDNN_GRAPH": "0"}
VARIANTS = (("serial", _OFF, ()),
            ("pipelined", dict(_OFF, PANSHARPEN_PIPELINE="1"), ()),
            ("pipelined + oneDNN Graph", {"PANSHARPEN_PIPELINE": "1", "PANSHARPEN_ONEDNN_GRAPH": "1"}, ()),
            ("pipelined, GDAL 1 thread", dict(_OFF, PANSHARPEN_PIPELINE="1"), ("--co", "NUM_THREADS=1")),
            ("pipelined + Graph, GDAL 1 thread", {"PANSHARPEN_PIPELINE": "1", "PANSHARPEN_ONEDNN_GRAPH": "1"},
             ("--co", "NUM_THREADS=1")))


def time_cli(model: str, pan, ms, out, env: dict, extra=()) -> dict:
    """Wall and CPU (user + sys) seconds and peak RSS (MB) of
    ``pansharpen fuse PAN MS OUT --model MODEL -q --overwrite [EXTRA...]``."""
    import os

    cmd = [str(Path(sys.executable).with_name("pansharpen")), "fuse", str(pan), str(ms), str(out), "--model", model,
           "-q", "--overwrite", *extra]
    return timed_command(cmd, dict(os.environ, **env))


def pipeline_compare(args, pan, ms, folder: Path, mp: float) -> None:
    """Serial against pipelined ``pansharpen fuse`` per network, and each against the run's FLOP floor."""
    import os

    import torch
    from bench_floor import matmul_rate

    from pansharpen.models import bundled_weights, create, load
    from pansharpen.models.inference import preferred_form

    torch.set_num_threads(args.threads)
    bundled = bundled_weights()
    nets = {m: load(bundled[m]) if m in bundled else create(m, bands=8) for m in args.models}
    macs = {m: net.macs_per_pixel() for m, net in nets.items()}
    cases = [(m, label, env, extra) for m in args.models for label, env, extra in VARIANTS
             if label in args.variants and ("Graph" not in label or preferred_form(nets[m]) == "trace")]
    load0 = os.getloadavg()
    rate = matmul_rate()
    best: dict = {}
    for _ in range(args.rounds):
        for model, label, env, extra in cases:
            r = time_cli(model, pan, ms, folder / "o.tif", env, extra)
            prev = best.get((model, label), {"seconds": float("inf"), "cpu": float("inf"), "peak_mb": 0.0})
            best[(model, label)] = {k: (max if k == "peak_mb" else min)(prev[k], r[k]) for k in prev}
            rate = max(rate, matmul_rate())
    load1 = os.getloadavg()
    print(f"load average {load0[0]:.2f} at start, {load1[0]:.2f} at end; fp32 matmul {rate / 1e9:.1f} GFLOP/s "
          f"(best of the run, {args.threads} threads); best of {args.rounds} interleaved rounds")
    print(f"{'network':22s} {'case':32s} {'MAC/px':>7s} {'floor s':>8s} {'wall s':>7s} {'CPU s':>6s} "
          f"{'vs serial':>10s} {'floor x':>8s} {'peak MB':>8s}")
    for model, label, _, _ in cases:
        floor = mp * 1e6 * macs[model] * 2 / rate
        r, serial = best[(model, label)], best.get((model, "serial"), best[(model, label)])
        print(f"{model:22s} {label:32s} {macs[model]:7.0f} {floor:8.2f} {r['seconds']:7.2f} {r['cpu']:6.1f} "
              f"{r['seconds'] / serial['seconds']:9.2f}x {r['seconds'] / floor:7.2f}x {r['peak_mb']:8.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--full-scene", action="store_true")
    ap.add_argument("--methods", nargs="*", default=["exp", "gsa", "mtf-glp-hpm", "brovey"])
    ap.add_argument("--models", nargs="*", default=["lgpconv-net", "lightnet"])
    ap.add_argument("--weights", nargs="*", default=[], help="weights files (fused as given)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tile", type=int, nargs="*", default=[512], help="tile sizes to compare (networks)")
    ap.add_argument("--subtile", type=int, nargs="*", default=[256], help="sub-tile sizes to compare (0: none)")
    ap.add_argument("--gdal-cli", action="store_true", help="baseline: gdal_pansharpen.py writing a DEFLATE GeoTIFF")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--compress", default="deflate", help="codec of both fuse and gdal_pansharpen.py (no overviews)")
    ap.add_argument("--whole-command", action="store_true",
                    help="time classical methods as the whole `python -m pansharpen fuse` command, imports included")
    ap.add_argument("--baseline-src", help="another checkout's src: methods' before/after table and output difference")
    ap.add_argument("--pipeline-compare", action="store_true",
                    help="the fuse command with PANSHARPEN_PIPELINE=0 and 1 for each of --models, against the FLOP floor")
    ap.add_argument("--variants", nargs="*", default=[v[0] for v in VARIANTS[:3]],
                    help=f"cases of --pipeline-compare, of: {', '.join(repr(v[0]) for v in VARIANTS)}")
    args = ap.parse_args()

    from pansharpen.io.samples import sample_product

    pan, ms = sample_product("WV3")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.full_scene:
            pan, ms = crop_files(pan, ms, args.size, folder)
        import rasterio

        with rasterio.open(pan) as src:
            mp = src.width * src.height / 1e6
        print(f"PAN {mp:.2f} MP, {args.threads} threads, load average {os.getloadavg()[0]:.2f}")
        if args.pipeline_compare:
            pipeline_compare(args, pan, ms, folder, mp)
            return
        if args.whole_command:  # as an installed package runs: its modules' bytecode written once
            print("bytecode written for", ", ".join(compile_bytecode(args.baseline_src)))
        vrt_s = min(time_gdal(pan, ms, 8, args.threads, folder)[0] for _ in range(args.rounds))
        cli_s = min(time_gdal_cli(pan, ms, folder / "gdal.tif", args.threads, args.compress) for _ in range(args.rounds)) \
            if args.gdal_cli else None
        base = cli_s or vrt_s
        print(f"{'GDAL weighted Brovey (VRT, no write)':34s} {vrt_s:8.2f} s {mp / vrt_s:8.2f} MP/s  ratio {vrt_s / base:.2f}")
        if cli_s:
            print(f"{'gdal_pansharpen.py, ' + args.compress + ' GeoTIFF':34s} {cli_s:8.2f} s {mp / cli_s:8.2f} MP/s  ratio 1.00")
        cases = [] if args.baseline_src else [("method", m, "-", 512, 0) for m in args.methods]  # else: compared below
        forms = [(t, s) for t in args.tile for s in args.subtile]
        cases += [] if args.baseline_src else [("model", m, "-", t, s) for m in args.models for t, s in forms]
        cases += [("weights", Path(w).stem, w, t, s) for w in args.weights for t, s in forms]
        best: dict = {}
        for _ in range(args.rounds):
            for case in cases:
                kind, name, weights, tile, subtile = case
                if kind == "method" and args.whole_command:
                    r = run_command(name, pan, ms, folder / "o.tif", args.compress)
                else:
                    r = run_child("method" if kind == "method" else "model", name, pan, ms, args.threads,
                                  folder / "o.tif", weights, tile, subtile, args.compress)
                prev = best.get(case, {"seconds": float("inf"), "peak_mb": 0.0})
                best[case] = {"seconds": min(prev["seconds"], r["seconds"]), "peak_mb": max(prev["peak_mb"], r["peak_mb"])}
        for case, r in best.items():
            kind, name, weights, tile, subtile = case
            label = f"{kind} {name}" + (f" tile {tile}/{subtile or '-'}" if kind != "method" else "")
            print(
                f"{label:34s} {r['seconds']:8.2f} s {mp / r['seconds']:8.2f} MP/s  ratio {r['seconds'] / base:.2f}"
                f"  peak {r['peak_mb']:.0f} MB"
            )
        if args.baseline_src:
            compare_methods(args, pan, ms, folder, base)


def compare_methods(args, pan, ms, folder: Path, base: float) -> None:
    """Each method and network with ``--baseline-src`` (before) and this checkout (after), interleaved;
    both outputs compared; times also as ratios to ``base`` (GDAL's time in the same run)."""
    import numpy as np
    import rasterio

    rows = []
    for kind, name in [("method", m) for m in args.methods] + [("model", m) for m in args.models]:
        runs = {}
        for _ in range(args.rounds):
            for tag, src in (("before", args.baseline_src), ("after", None)):
                if kind == "method" and args.whole_command:
                    r = run_command(name, pan, ms, folder / f"{tag}.tif", args.compress, src=src)
                else:
                    r = run_child(kind, name, pan, ms, args.threads, folder / f"{tag}.tif", tile=args.tile[0],
                                  subtile=args.subtile[0], compress=args.compress, src=src)
                prev = runs.get(tag, {"seconds": float("inf"), "peak_mb": 0.0})
                runs[tag] = {"seconds": min(prev["seconds"], r["seconds"]), "peak_mb": max(prev["peak_mb"], r["peak_mb"])}
        with rasterio.open(folder / "before.tif") as a, rasterio.open(folder / "after.tif") as b:
            diff = max(float(np.abs(a.read(k).astype(np.float64) - b.read(k)).max()) for k in range(1, a.count + 1))
        rows.append((name if kind == "method" else f"{name} (net)", runs["before"], runs["after"], diff))
    print(f"\n{'method':16s} {'peak before':>12s} {'peak after':>11s} {'s before':>9s} {'s after':>8s} "
          f"{'/GDAL before':>13s} {'/GDAL after':>12s}  max |after - before|")
    for name, before, after, diff in rows:
        print(f"{name:16s} {before['peak_mb']:9.0f} MB {after['peak_mb']:8.0f} MB {before['seconds']:9.1f} "
              f"{after['seconds']:8.1f} {before['seconds'] / base:13.2f} {after['seconds'] / base:12.2f}  {diff:g} DN")
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
