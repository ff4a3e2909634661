"""Weights, checkpoints and training data that are damaged, malicious or hold NaN: one line, exit 2,
no code from a file ever runs."""
from __future__ import annotations

import pickle

import numpy as np
import pytest


class _Evil:
    """Unpickling this runs ``touch MARKER`` (what a malicious checkpoint would do)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def _evil_pickle(path, marker):
    with open(path, "wb") as fh:
        pickle.dump({"state_dict": {"w": _Evil(marker)}}, fh)
    return path


def _torch_file(path, obj):
    import torch

    torch.save(obj, path)
    return path


def _tiny_set(path, nan_at=None):
    import h5py

    rng = np.random.default_rng(0)
    gt = rng.uniform(100, 1500, (8, 4, 16, 16))
    ms = gt.reshape(8, 4, 4, 4, 4, 4).mean(axis=(3, 5))
    arrays = {"gt": gt, "ms": ms, "lms": np.repeat(np.repeat(ms, 4, 2), 4, 3), "pan": gt.mean(1, keepdims=True)}
    if nan_at is not None:
        arrays["pan"][nan_at, 0, 2, 2] = np.nan
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
        f.attrs["sensor"] = "WV3"
    return path


@pytest.mark.parametrize("kind", ["pickle", "truncated", "text", "not_tensors", "missing"])
def test_import_weights_bad_checkpoints(cli, tmp_path, kind):
    marker, ckpt, out = tmp_path / "owned", tmp_path / "authors.pth", tmp_path / "w.safetensors"
    if kind == "pickle":
        _evil_pickle(ckpt, marker)
    elif kind == "truncated":
        import torch

        _torch_file(ckpt, {"w": torch.zeros(100, 100)})
        ckpt.write_bytes(ckpt.read_bytes()[:3000])
    elif kind == "text":
        ckpt.write_text("hello")
    elif kind == "not_tensors":
        _torch_file(ckpt, {"w": [1, 2, 3]})
    run = cli("import-weights", "lightnet", ckpt, out)
    run.assert_error("authors.pth")
    assert not marker.exists() and not out.exists()


def test_import_weights_unknown_importer_lists_them(cli, tmp_path):
    cli("import-weights", "nope", tmp_path / "a.pth", tmp_path / "w.safetensors").assert_error("nope", "lightnet")


@pytest.mark.parametrize("kind", ["text", "truncated", "empty", "missing", "torch_pickle"])
def test_fuse_with_bad_weights_file(cli, product, tmp_path, kind):
    from pansharpen.models import create, save

    weights, marker = tmp_path / "w.safetensors", tmp_path / "owned"
    if kind == "text":
        weights.write_text("not weights")
    elif kind == "truncated":
        save(create("lightnet", bands=4), weights)
        weights.write_bytes(weights.read_bytes()[:500])
    elif kind == "empty":
        weights.write_bytes(b"")
    elif kind == "torch_pickle":
        _evil_pickle(weights, marker)
    run = cli("fuse", product.pan, product.ms, product.out, "--weights", weights, "-q")
    run.assert_error("w.safetensors" if kind != "missing" else "w.safetensors")
    assert not product.out.exists() and not marker.exists()


def test_train_nan_sample_names_it(cli, tmp_path):
    data = _tiny_set(tmp_path / "nan.h5", nan_at=5)
    out = tmp_path / "w.safetensors"
    run = cli("train", "lightnet", "--data", data, "--epochs", "1", "--batch-size", "4", "--out", out, "-q")
    run.assert_error("NaN", "5")
    assert not out.exists()


@pytest.mark.parametrize("kind", ["garbage", "pickle", "truncated"])
def test_train_resume_from_a_bad_checkpoint(cli, tmp_path, kind):
    data = _tiny_set(tmp_path / "set.h5")
    out, marker = tmp_path / "w.safetensors", tmp_path / "owned"
    ckpt = tmp_path / "w.ckpt"
    if kind == "garbage":
        ckpt.write_bytes(b"\x00" * 64)
    elif kind == "pickle":
        _evil_pickle(ckpt, marker)
    else:
        assert cli("train", "lightnet", "--data", data, "--epochs", "1", "--batch-size", "4", "--out", out, "-q",
                   "--minutes", "0.0001").code == 0
        ckpt.write_bytes(ckpt.read_bytes()[:2000])
    run = cli("train", "lightnet", "--data", data, "--epochs", "2", "--batch-size", "4", "--out", out, "-q", "--resume")
    run.assert_error("w.ckpt")
    assert not marker.exists()


@pytest.mark.slow
def test_train_resume_with_other_data_needs_force(cli, tmp_path):
    """The sweep's case (fixed by the TrainConfig comparison): --resume with another --data is refused,
    the weights are kept, and --force continues."""
    first, other = _tiny_set(tmp_path / "first.h5"), _tiny_set(tmp_path / "other.h5")
    out = tmp_path / "w.safetensors"
    common = ("--epochs", "2", "--batch-size", "4", "--out", out, "-q")
    assert cli("train", "lightnet", "--data", first, "--minutes", "0.0001", *common).code == 0
    before = out.read_bytes()
    run = cli("train", "lightnet", "--data", other, "--resume", *common)
    run.assert_error("first.h5", "other.h5", "--force")
    assert out.read_bytes() == before
    assert cli("train", "lightnet", "--data", other, "--resume", "--force", *common).code == 0
