"""Networks against their FLOP floor: pixels x the MACs the architecture needs x 2 / the fp32 matmul
rate measured in the same run.

    python bench/bench_floor.py [--size 568] [--rounds 3] [--threads 2]
                                [--models lgpconv-net-wv3 lightnet-wv3 ...] [--ada3d-size 512] [--skip-ada3d]
                                [--onednn-graph]

The matmul rate is the best of ``2048 x 2048`` float32 products timed between the forwards (so it
sees the same load). Each network runs in every inference form (eager, fold, trace) with the CLI's
allocator setting, batch 1, 8 bands, a PAN input of ``--size`` pixels (568 = one 512 sub-tile plus
LGPConv-Net's margin); the forms are interleaved over ``--rounds`` and the best time is kept.
"floor x" = time / floor with the architecture's MACs (``macs_per_pixel``: SpanConv counted
factorised, as the paper). Ada3D-pan runs at ``--ada3d-size`` with its eager tap loop (before) and
with the TorchInductor-fused strips (after, compilation excluded and reported separately).

The "trace" form is measured without the per-shape oneDNN Graph engines
(``PANSHARPEN_ONEDNN_GRAPH=0`` is set for this script); ``--onednn-graph`` adds them as
"trace + oneDNN Graph" (``pansharpen.models.inference.TracedForm``: the channels-last model traced
with TorchScript's oneDNN Graph fuser, which fuses convolutions with their bias, residual sums and
ReLUs as oneDNN post-ops, specialised to the shape; warmed up by two calls, build time reported)
and "fold + oneDNN Graph" (the fold traced the same way, for this shape only).
"""
from __future__ import annotations

import argparse
import os
import time
import warnings

import torch


def matmul_rate(n: int = 2048) -> float:
    a, b = torch.rand(n, n), torch.rand(n, n)
    a @ b
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def inputs(bands: int, size: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, bands, size // 4, size // 4, generator=g), torch.rand(1, 1, size, size, generator=g),
            torch.rand(1, bands, size, size, generator=g))


def networks(args) -> None:
    from pansharpen.models import bundled_weights, create, load
    from pansharpen.models.inference import inference_module

    bundled = bundled_weights()
    ms, pan, lms = inputs(8, args.size)
    cases, macs = {}, {}
    for name in args.models:
        model = (load(bundled[name]) if name in bundled else create(name, bands=8)).eval()
        macs[name] = model.macs_per_pixel()
        with torch.no_grad():
            want = model(ms, pan, lms)
            for form in ("eager", "fold", "trace"):
                engine, used = inference_module(model, form)
                if (name, used) in cases:
                    continue
                err = float((engine(ms, pan, lms) - want).abs().max())
                cases[(name, used)] = [engine, float("inf"), err]
    if args.onednn_graph:
        _onednn_graph_cases(args, cases, ms, pan, lms)
    rate = 0.0
    with torch.no_grad():
        for _ in range(args.rounds):
            rate = max(rate, matmul_rate())
            for case in cases.values():
                t = time.perf_counter()
                case[0](ms, pan, lms)
                case[1] = min(case[1], time.perf_counter() - t)
    print(f"fp32 matmul {rate / 1e9:.1f} GFLOP/s (best of the run); PAN {args.size} x {args.size}, "
          f"{torch.get_num_threads()} threads, best of {args.rounds} interleaved rounds")
    print(f"{'network':20s} {'form':26s} {'MAC/px':>8s} {'ms':>8s} {'floor ms':>9s} {'floor x':>8s} {'vs eager':>9s} {'max diff':>9s}")
    for (name, form), (_, seconds, err) in cases.items():
        floor = args.size**2 * macs[name] * 2 / rate
        eager = cases[(name, "eager")][1]
        print(f"{name:20s} {form:26s} {macs[name]:8.0f} {seconds * 1e3:8.1f} {floor * 1e3:9.1f} {seconds / floor:7.2f}x "
              f"{eager / seconds:8.2f}x {err:9.1e}")


def _onednn_graph_cases(args, cases: dict, ms, pan, lms) -> None:
    """Add ``(name, "trace + oneDNN Graph")`` (the product's per-shape fused trace) and
    ``(name, "fold + oneDNN Graph")`` (the fold traced with the same fuser, this shape only) to ``cases``."""
    import copy

    from pansharpen.models import bundled_weights, create, load
    from pansharpen.models.inference import _onednn_graph, _traced

    bundled = bundled_weights()
    for name in args.models:
        model = (load(bundled[name]) if name in bundled else create(name, bands=8)).eval()
        with torch.no_grad():
            want = model(ms, pan, lms)
            t = time.perf_counter()
            engine = _traced(model, graph_fusion=True)
            for _ in range(2):  # the second call of a shape builds and runs the fused trace
                engine(ms, pan, lms)
            build = time.perf_counter() - t
            cases[(name, "trace + oneDNN Graph")] = [engine, float("inf"), float((engine(ms, pan, lms) - want).abs().max())]
            if hasattr(model, "fold"):
                source = copy.deepcopy(model).fold().eval().to(memory_format=torch.channels_last)
                try:
                    with _onednn_graph():
                        fold = torch.jit.freeze(torch.jit.trace(source, (ms, pan, lms), check_trace=False))
                        for _ in range(2):
                            fold(ms, pan, lms)
                except RuntimeError as exc:  # the LLGA bridge refuses some graphs
                    print(f"{name}: the fold cannot be traced with oneDNN Graph ({str(exc).splitlines()[0]})")
                else:
                    err = float((fold(ms, pan, lms) - want).abs().max())
                    cases[(name, "fold + oneDNN Graph")] = [fold, float("inf"), err]
        print(f"{name}: per-shape oneDNN Graph trace built, warmed up and checked in {build:.1f} s")


def ada3d(args) -> None:
    import pansharpen.layers.ada3d as layer
    from pansharpen.models import create

    model = create("ada3d-pan", bands=8).eval()
    macs = model.macs_per_pixel()
    ms, pan, _ = inputs(8, args.ada3d_size)
    t = time.perf_counter()
    fused = layer.fused_strip_kernel()
    compile_s = time.perf_counter() - t
    times = {"eager tap loop": float("inf"), "fused strips": float("inf")}
    rate = 0.0
    with torch.no_grad():
        layer._FUSED["fn"] = None
        want = model(ms, pan)
        layer._FUSED["fn"] = fused
        err = float((model(ms, pan) - want).abs().max()) if fused is not None else float("nan")
        for _ in range(args.ada3d_rounds):
            rate = max(rate, matmul_rate())
            for label, fn in (("eager tap loop", None), ("fused strips", fused)):
                if label == "fused strips" and fused is None:
                    continue
                layer._FUSED["fn"] = fn
                t = time.perf_counter()
                model(ms, pan)
                times[label] = min(times[label], time.perf_counter() - t)
    floor = args.ada3d_size**2 * macs * 2 / rate
    print(f"\nada3d-pan, PAN {args.ada3d_size} x {args.ada3d_size}, {macs:,.0f} MAC/px, fp32 matmul {rate / 1e9:.1f} GFLOP/s, "
          f"floor {floor:.2f} s; compilation {compile_s:.1f} s (once per process); max diff {err:.1e}")
    for label, seconds in times.items():
        print(f"{label:16s} {seconds:8.2f} s  floor x {seconds / floor:6.2f}  vs eager {times['eager tap loop'] / seconds:5.2f}x")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=568)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--models", nargs="*", default=["lgpconv-net-wv3", "lightnet-wv3"])
    ap.add_argument("--ada3d-size", type=int, default=512)
    ap.add_argument("--ada3d-rounds", type=int, default=1)
    ap.add_argument("--skip-ada3d", action="store_true")
    ap.add_argument("--onednn-graph", action="store_true", help="add the oneDNN Graph (LLGA) fused trace as a form")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    os.environ["PANSHARPEN_ONEDNN_GRAPH"] = "0"  # "trace" is the oneDNN-layout trace alone
    torch.set_num_threads(args.threads)
    from pansharpen.runtime import retain_freed_memory

    retain_freed_memory()
    if args.models:
        networks(args)
    if not args.skip_ada3d:
        ada3d(args)


if __name__ == "__main__":
    main()
