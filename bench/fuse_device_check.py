"""NetworkFuser on CUDA vs the CPU on a 2048 x 2048 PAN crop: max |difference| / range and times.

Usage: python bench/fuse_device_check.py --set wv-8band_train.h5 [--models lgpconv-net-wv3,lightnet-wv3]

The crop is a mosaic of the set's real reduced-resolution patches (32 x 32 PAN patches of 64 x 64,
the MS patches laid out the same way), so the check runs where no product is installed (the lent
GPU machine). Both devices fuse the same arrays in one process; the CPU result is the reference.
Prints one line per model: max abs difference relative to the reference's range, CPU and CUDA
seconds (second of two runs, after a warm-up).
"""
from __future__ import annotations

import argparse
import time

import h5py
import numpy as np
import torch

from pansharpen import models
from pansharpen.fusion.network_fuser import NetworkFuser


def mosaic(path: str, side: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    with h5py.File(path, "r") as f:
        pan, ms = f["pan"][:].astype(np.float64), f["ms"][:].astype(np.float64)
    p, q = pan.shape[-1], ms.shape[-1]
    n = side // p
    pan_out = np.zeros((1, side, side))
    ms_out = np.zeros((ms.shape[1], n * q, n * q))
    for k in range(n * n):
        i, j, s = k // n, k % n, k % len(pan)
        pan_out[:, i * p:(i + 1) * p, j * p:(j + 1) * p] = pan[s]
        ms_out[:, i * q:(i + 1) * q, j * q:(j + 1) * q] = ms[s]
    return ms_out, pan_out


def timed(fuser, ms, pan) -> tuple[np.ndarray, float]:
    fuser(ms, pan)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t = time.perf_counter()
    out = fuser(ms, pan)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return out, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", required=True)
    ap.add_argument("--models", default="lgpconv-net-wv3,lightnet-wv3")
    ap.add_argument("--threads", type=int, default=4)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    ms, pan = mosaic(a.set)
    print(f"crop: PAN {pan.shape}, MS {ms.shape}; torch {torch.__version__}, "
          f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA'}, {a.threads} CPU threads")
    for name in a.models.split(","):
        model = models.load(name)
        ref, t_cpu = timed(NetworkFuser(model, device="cpu"), ms, pan)
        for tf32 in (True, False):
            torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
            got, t_gpu = timed(NetworkFuser(model, device="cuda"), ms, pan)
            rel = float(np.abs(got - ref).max() / (ref.max() - ref.min()))
            print(f"{name} (TF32 {'on' if tf32 else 'off'}): max|cuda - cpu| / range = {rel:.2e} "
                  f"({'ok' if rel <= 1e-4 else 'OVER 1e-4'}); cpu {t_cpu:.2f} s, cuda {t_gpu:.3f} s, ratio {t_cpu / t_gpu:.1f}x")


if __name__ == "__main__":
    main()
