"""Helpers of the robustness sweep (docs/robustness.md): tiny products, a CLI result, tmpfs mounts.

Every case writes its own small files: a 4-band MS of 16 x 16 pixels and a PAN of 64 x 64
(ratio 4, UTM grid, 11-bit digital numbers) unless the case changes one property.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

REPO = Path(__file__).resolve().parents[2]
PAN_T = Affine(0.5, 0, 1000.0, 0, -0.5, 5000.0)
MS_T = Affine(2.0, 0, 1000.0, 0, -2.0, 5000.0)


def write_raster(path, arr, transform=PAN_T, crs="EPSG:32613", dtype=None, nodata=None) -> Path:
    arr = np.asarray(arr)
    dtype = dtype or arr.dtype.name
    with rasterio.open(
        path, "w", driver="GTiff", width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=dtype,
        crs=crs, transform=transform, nodata=nodata,
    ) as dst:
        dst.write(np.rint(arr).astype(dtype) if np.dtype(dtype).kind in "iu" else arr.astype(dtype))
    return Path(path)


def scene(seed: int = 0, h: int = 16, w: int = 16, bands: int = 4, ratio: int = 4):
    """``(pan (1, rH, rW), ms (C, h, w))`` float64 DN in [100, 1600]: a PAN that is the MS mean plus detail."""
    rng = np.random.default_rng(seed)
    ms = rng.uniform(200, 1500, (bands, h, w))
    pan = np.repeat(np.repeat(ms.mean(0, keepdims=True), ratio, 1), ratio, 2) + rng.normal(0, 30, (1, h * ratio, w * ratio))
    return np.clip(pan, 0, 2047), ms


@dataclass
class Product:
    folder: Path
    pan: Path
    ms: Path

    @property
    def out(self) -> Path:
        return self.folder / "out.tif"

    def leftovers(self) -> list[str]:
        """Temporary files of any output in the folder (there must be none after a run)."""
        return sorted(p.name for p in self.folder.iterdir() if p.name.endswith(".partial") or ".partial" in p.name)


def make_product(folder: Path, *, pan=None, ms=None, pan_kw=None, ms_kw=None, dtype="uint16") -> Product:
    folder.mkdir(parents=True, exist_ok=True)
    p, m = scene()
    pan = p if pan is None else pan
    ms = m if ms is None else ms
    pan_path = write_raster(folder / "pan.tif", pan, **{"transform": PAN_T, "dtype": dtype, **(pan_kw or {})})
    ms_path = write_raster(folder / "ms.tif", ms, **{"transform": MS_T, "dtype": dtype, **(ms_kw or {})})
    return Product(folder, pan_path, ms_path)


@dataclass
class Run:
    code: int
    out: str
    err: str

    def assert_error(self, *words: str) -> None:
        """Exit 2 and one line on stderr, ``pansharpen: error: ...``, naming every word (one-line warnings
        from libraries may precede it; nothing else may: no traceback)."""
        lines = [ln for ln in self.err.splitlines() if ln.strip() and not ln.startswith("pansharpen: warning: ")]
        assert self.code == 2, (self.code, self.err)
        assert len(lines) == 1 and lines[0].startswith("pansharpen: error: "), self.err
        for word in words:
            assert word.lower() in lines[0].lower(), (word, lines[0])


def subprocess_cli(*args, timeout: float = 120, **kwargs) -> subprocess.CompletedProcess:
    """``python -m pansharpen ARGS`` in a child process (for kills, concurrency and real exit paths)."""
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "pansharpen", *map(str, args)], capture_output=True, text=True, timeout=timeout,
        env=env, **kwargs,
    )


def mount_tmpfs(path: Path, *options: str) -> bool:
    """Mount a tmpfs at ``path`` with ``options`` (e.g. ``size=64k``, ``ro``); False where not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options or ("size=1m",)), "tmpfs", str(path)],
                          capture_output=True)
    return done.returncode == 0


def unmount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)
