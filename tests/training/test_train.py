"""Training loop: reproducibility, exact resume, budgets, faults, validation, card record.

A tiny FusionModel (tests/training/tiny_model.py) (one 3x3 conv, 4 bands) and a 12-sample set of 16x16
patches keep every run well under a second of compute.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch

from pansharpen.errors import DataFormatError, ModelError, OutputExistsError, ShapeError, ValueRangeError
from pansharpen.io.pancollection import write_pancollection
from pansharpen.models import read_card
from pansharpen.training import train as train_module
from pansharpen.training.checkpointing import load_checkpoint
from pansharpen.training.config import TrainConfig
from pansharpen.training.train import checkpoint_path_for, train

from .tiny_model import TinyNet, register_tiny

TINY = register_tiny("tiny-train-test")


def make_set(path, n=12, bands=4, size=16, seed=0, nan_at=None, attrs=None):
    """A Wald-like tiny set in DN: ms = 4x4 block means of gt, lms = nearest upsampling, pan = band mean."""
    rng = np.random.default_rng(seed)
    gt = rng.uniform(100, 1500, (n, bands, size, size))
    ms = gt.reshape(n, bands, size // 4, 4, size // 4, 4).mean(axis=(3, 5))
    lms = np.repeat(np.repeat(ms, 4, 2), 4, 3)
    pan = gt.mean(1, keepdims=True)
    arrays = {"gt": gt, "ms": ms, "lms": lms, "pan": pan}
    if nan_at is not None:  # the writer refuses NaN, so write this one with h5py directly
        import h5py

        arrays["pan"][nan_at, 0, 3, 3] = np.nan
        with h5py.File(path, "w") as f:
            for k, v in arrays.items():
                f[k] = v
        return path
    write_pancollection(path, arrays, attrs or {"sensor": "WV3", "source": "synthetic test"})
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("train-data")
    return {"train": make_set(root / "train.h5"), "valid": make_set(root / "valid.h5", n=4, seed=1)}


def weights_of(result):
    return result.model.state_dict()


def same(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


KW = dict(preset="lightnet", batch_size=4, quiet=True)  # 12 samples / 4 = 3 steps per epoch


def test_same_seed_same_weights_other_seed_differs(data, tmp_path):
    a = train(TINY, data["train"], epochs=2, seed=3, **KW)
    b = train(TINY, data["train"], epochs=2, seed=3, **KW)
    c = train(TINY, data["train"], epochs=2, seed=4, **KW)
    assert same(weights_of(a), weights_of(b))
    assert not same(weights_of(a), weights_of(c))
    assert a.steps == 6 and a.epochs == 2 and a.stopped_by == "epochs"


def test_training_reduces_loss_and_follows_the_schedule(data):
    r = train(TINY, data["train"], epochs=8, **KW)
    losses = [h["loss"] for h in r.history]
    assert losses[-1] < losses[0]
    # lightnet: StepLR(120, 0.75) over 800 epochs, scaled to 8 epochs -> step round(1.2) = 1
    assert r.step_size == 1
    assert [h["lr"] for h in r.history[:3]] == pytest.approx([0.0025, 0.0025 * 0.75, 0.0025 * 0.75**2])
    paper = train(TINY, data["train"], epochs=3, schedule="paper", **KW)
    assert paper.step_size == 120 and [h["lr"] for h in paper.history] == [0.0025] * 3


class Interrupt(Exception):
    pass


def interrupt_at(global_step):
    def callback(info):
        if info["global_step"] == global_step:
            raise Interrupt

    return callback


def test_resume_after_interruption_is_bit_exact(data, tmp_path):
    straight = train(TINY, data["train"], epochs=4, out=tmp_path / "a.safetensors", **KW)
    out = tmp_path / "b.safetensors"
    # killed during the first step of epoch 3: the epoch-2 checkpoint must be intact
    with pytest.raises(Interrupt):
        train(TINY, data["train"], epochs=4, out=out, callbacks=[interrupt_at(7)], **KW)
    assert not out.exists()
    ckpt = load_checkpoint(checkpoint_path_for(out))
    assert (ckpt["epoch"], ckpt["step_in_epoch"], ckpt["global_step"]) == (2, 0, 6)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    resumed = train(TINY, data["train"], out=out, resume=True, **KW)
    assert resumed.epochs == 4 and resumed.steps == 12
    assert same(weights_of(straight), weights_of(resumed))
    assert [h["loss"] for h in straight.history] == [h["loss"] for h in resumed.history]
    # the weights file written with models.save equals the returned model
    assert read_card(out).training["epochs"] == 4


def test_resume_refuses_other_data_or_settings_unless_forced(data, tmp_path):
    out = tmp_path / "w.safetensors"
    train(TINY, data["train"], epochs=1, out=out, **KW)
    ckpt = checkpoint_path_for(out)
    before = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    other = make_set(tmp_path / "other.h5", seed=5, n=16)
    with pytest.raises(ModelError, match=r"data: train.h5 \(12 samples.* recorded, other.h5 \(16 samples.* given.*--force"):
        train(TINY, other, epochs=2, out=out, resume=True, **KW)
    with pytest.raises(ModelError, match=r"validate_every: 10 recorded, 1 given"):
        train(TINY, data["train"], epochs=2, out=out, resume=True, validate_every=1, **KW)
    with pytest.raises(ModelError, match=r"seed: 0 recorded, 1 given.*even with --force"):
        train(TINY, other, epochs=2, out=out, resume=True, force=True, seed=1, **KW)
    assert hashlib.sha256(ckpt.read_bytes()).hexdigest() == before  # refusals change nothing
    forced = train(TINY, other, epochs=2, out=out, resume=True, force=True, **KW)
    assert forced.epochs == 2 and forced.steps == 3 + 4  # epoch 2 ran on the 16-sample set
    card = read_card(out)
    assert card.training["data"]["name"] == "other.h5" and card.training["config"]["force"] is True
    # the checkpoint now records the new data: resuming on it needs no --force
    assert train(TINY, other, epochs=3, out=out, resume=True, **KW).epochs == 3


def test_budget_stop_mid_epoch_then_resume_is_bit_exact(data, tmp_path, monkeypatch):
    straight = train(TINY, data["train"], epochs=3, **KW)
    out = tmp_path / "w.safetensors"
    # make the budget run out after 4 steps (epoch 2, step 1) deterministically
    monkeypatch.setattr(train_module._Run, "_out_of_time", lambda self: self.global_step >= 4)
    first = train(TINY, data["train"], epochs=3, minutes=1.0, out=out, **KW)
    assert first.stopped_by == "minutes" and first.steps == 4 and first.epochs == 1
    ckpt = load_checkpoint(checkpoint_path_for(out))
    assert (ckpt["epoch"], ckpt["step_in_epoch"]) == (1, 1)
    assert read_card(out).training["stopped_by"] == "minutes"
    monkeypatch.undo()
    resumed = train(TINY, data["train"], out=out, resume=True, **KW)
    assert resumed.steps == 9 and resumed.stopped_by == "epochs"
    assert same(weights_of(straight), weights_of(resumed))


@pytest.mark.slow
def test_real_minutes_budget_stops_cleanly_and_plans_the_schedule(data, tmp_path):
    r = train(TINY, data["train"], minutes=1e-6, out=tmp_path / "w.safetensors", **KW)
    assert r.stopped_by == "minutes" and r.steps == 0
    assert (tmp_path / "w.safetensors").exists() and checkpoint_path_for(tmp_path / "w.safetensors").exists()
    # minutes only, enough for several epochs: the horizon is planned after epoch 1 (at most 800)
    r = train(TINY, data["train"], minutes=0.05, **KW)
    assert r.horizon is not None and 1 <= r.horizon <= 800
    assert r.stopped_by in ("minutes", "epochs")


def test_nan_sample_stops_with_its_index_and_keeps_last_good_checkpoint(data, tmp_path):
    out = tmp_path / "w.safetensors"
    train(TINY, data["train"], epochs=1, out=out, **KW)
    ckpt = checkpoint_path_for(out)
    before = hashlib.sha256(ckpt.read_bytes()).hexdigest(), hashlib.sha256(out.read_bytes()).hexdigest()
    poisoned = make_set(tmp_path / "nan.h5", nan_at=5)
    with pytest.raises(ValueRangeError, match=r"sample 5 .*'pan'"):  # continued on other data: --force
        train(TINY, poisoned, epochs=3, out=out, resume=True, force=True, **KW)
    after = hashlib.sha256(ckpt.read_bytes()).hexdigest(), hashlib.sha256(out.read_bytes()).hexdigest()
    assert before == after
    assert load_checkpoint(ckpt)["epoch"] == 1
    # and the good data resumes from it
    assert train(TINY, data["train"], epochs=2, out=out, resume=True, **KW).epochs == 2


def test_diverging_loss_stops_before_the_update(data):
    model = TinyNet(4)
    with torch.no_grad():
        model.conv.weight.fill_(3e38)  # the output overflows to inf: a diverged network
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ValueRangeError, match=r"samples \[.*diverged"):
        train(model, data["train"], epochs=1, **KW)
    assert same(before, model.state_dict())  # no optimiser step was taken


def test_truncated_file_fails_before_training(data, tmp_path):
    raw = data["train"].read_bytes()
    bad = tmp_path / "truncated.h5"
    bad.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFormatError):
        train(TINY, bad, epochs=1, **KW)
    with pytest.raises(DataFormatError, match="does not exist"):
        train(TINY, tmp_path / "missing.h5", epochs=1, **KW)


def test_missing_key_fails_before_training(tmp_path):
    import h5py

    path = tmp_path / "nolms.h5"
    with h5py.File(path, "w") as f:
        f["gt"] = np.ones((4, 4, 16, 16))
        f["ms"] = np.ones((4, 4, 4, 4))
        f["pan"] = np.ones((4, 1, 16, 16))
    with pytest.raises(DataFormatError, match="lms"):
        train(TINY, path, epochs=1, **KW)


def test_band_mismatch_and_ratio_mismatch_fail_before_training(data, tmp_path):
    with pytest.raises(ModelError, match="8 bands but .* have 4"):
        train(TinyNet(bands=8), data["train"], epochs=1, **KW)
    ratio2 = tmp_path / "ratio2.h5"
    rng = np.random.default_rng(0)
    write_pancollection(ratio2, {"gt": rng.uniform(1, 9, (4, 4, 16, 16)), "ms": rng.uniform(1, 9, (4, 4, 8, 8)),
                                 "lms": rng.uniform(1, 9, (4, 4, 16, 16)), "pan": rng.uniform(1, 9, (4, 1, 16, 16))})
    with pytest.raises(ShapeError, match="ratio 4"):
        train(TINY, ratio2, epochs=1, **KW)


def test_batch_larger_than_set_and_bad_arguments(data):
    with pytest.raises(ShapeError, match="fewer than one batch"):
        train(TINY, data["train"], epochs=1, **dict(KW, batch_size=64))
    with pytest.raises(ValueRangeError):
        train(TINY, data["train"], epochs=0, **KW)
    with pytest.raises(ValueRangeError):
        train(TINY, data["train"], minutes=-1, **KW)
    with pytest.raises(ModelError, match="unknown preset"):
        train(TINY, data["train"], epochs=1, preset="nope", quiet=True)


def test_existing_output_and_inconsistent_resume(data, tmp_path):
    out = tmp_path / "w.safetensors"
    train(TINY, data["train"], epochs=1, out=out, **KW)
    with pytest.raises(OutputExistsError, match="--resume"):
        train(TINY, data["train"], epochs=1, out=out, **KW)
    with pytest.raises(ModelError, match="lr"):
        train(TINY, data["train"], epochs=2, out=out, resume=True, **dict(KW, lr=0.1))
    with pytest.raises(DataFormatError, match="no training checkpoint"):
        train(TINY, data["train"], epochs=2, out=tmp_path / "other.safetensors", resume=True, **KW)
    checkpoint_path_for(out).write_bytes(b"garbage")
    with pytest.raises(DataFormatError, match="damaged"):
        train(TINY, data["train"], epochs=2, out=out, resume=True, **KW)


def test_card_records_the_training(data, tmp_path):
    out = tmp_path / "w.safetensors"
    train(TINY, data["train"], epochs=2, out=out, command="pansharpen train tiny", **KW)
    card = read_card(out)
    t = card.training
    assert t["data"]["name"] == "train.h5" and t["data"]["samples"] == 12
    assert t["data"]["provenance"]["source"] == "synthetic test"
    assert t["command"] == "pansharpen train tiny"
    assert t["preset"]["name"] == "lightnet" and t["preset"]["batch_size"] == 4
    assert t["epochs"] == 2 and t["steps"] == 6 and t["seconds"] > 0
    assert card.sensors == ["WV3"] and card.normaliser == 2047.0
    json.dumps(t)  # the record is plain JSON
    config = TrainConfig(TINY, data["train"], epochs=2, out=out, command="pansharpen train tiny", **KW).to_dict()
    assert t["config"] == config and t["config"]["data"] == str(data["train"])
    assert load_checkpoint(checkpoint_path_for(out))["config"] == config  # the same object in both


def test_fine_tuning_from_weights(data, tmp_path):
    start = tmp_path / "start.safetensors"
    first = train(TINY, data["train"], epochs=1, out=start, **KW)
    tuned = train(TINY, data["train"], epochs=1, weights=start, out=tmp_path / "tuned.safetensors", **KW)
    assert not same(weights_of(first), weights_of(tuned))
    assert read_card(tmp_path / "tuned.safetensors").training["started_from"] == "start.safetensors"
    with pytest.raises(ModelError, match="not lightnet"):
        train("lightnet", data["train"], epochs=1, weights=start, **KW)


def test_validation_metrics_and_best_selection(data, tmp_path):
    pytest.importorskip("pansharpen.metrics.reduced", reason="metrics module not present")
    from pansharpen.metrics import reduced

    if not hasattr(reduced, "reduced_resolution_indices"):
        pytest.skip("reduced_resolution_indices not written yet")
    out = tmp_path / "w.safetensors"
    r = train(TINY, data["train"], data["valid"], epochs=4, validate_every=2, out=out, **KW)
    validated = [h for h in r.history if "Q2n" in h]
    assert [h["epoch"] for h in validated] == [2, 4]
    for h in validated:
        assert 0 < h["Q2n"] <= 1 and h["SAM"] >= 0 and h["ERGAS"] >= 0
    best = max(validated, key=lambda h: h["Q2n"])
    assert r.best["epoch"] == best["epoch"] and r.selected == "best"
    card = read_card(out)
    assert card.metrics["Q2n"] == pytest.approx(best["Q2n"]) and card.metrics["valid"] == "valid.h5"


KILLABLE = '''
import sys
import torch
from torch import nn
from pansharpen.models import registry
from pansharpen.models.base import FusionModel
from pansharpen.training.train import train


class TinyNet(FusionModel):
    def __init__(self, bands=4):
        super().__init__()
        self.bands = bands
        self.conv = nn.Conv2d(bands + 1, bands, 3, padding=1)

    def fuse(self, ms, pan, lms):
        return lms + self.conv(torch.cat([lms, pan], 1))


registry.register("%s", paper="test stand-in")(lambda bands=4, **kw: TinyNet(bands))
train("%s", sys.argv[1], epochs=int(sys.argv[3]), out=sys.argv[2], preset="lightnet", batch_size=4, quiet=True,
      schedule="paper")
''' % (TINY, TINY)


@pytest.mark.slow
def test_killed_process_leaves_a_loadable_checkpoint_and_resume_finishes(data, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "killable.py"
    script.write_text(KILLABLE)
    out = tmp_path / "w.safetensors"
    ckpt = checkpoint_path_for(out)
    proc = subprocess.Popen([sys.executable, str(script), str(data["train"]), str(out), "1000"],
                            env=dict(os.environ, OMP_NUM_THREADS="1"), stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if ckpt.exists() and load_checkpoint(ckpt)["epoch"] >= 3:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)  # no chance to clean up
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    state = load_checkpoint(ckpt)  # complete, whatever the moment of the kill
    assert state["epoch"] >= 3 and state["global_step"] == 3 * state["epoch"]
    assert not out.exists()
    done = state["epoch"] + 2
    resumed = train(TINY, data["train"], epochs=done, out=out, resume=True, schedule="paper", **KW)
    assert resumed.epochs == done and resumed.steps == 3 * done
    # the paper schedule (StepLR 120) does not depend on the planned epochs: same lr in both runs
    straight = train(TINY, data["train"], epochs=done, schedule="paper", **KW)
    for k, v in straight.model.state_dict().items():  # other thread count in the child: float tolerance
        torch.testing.assert_close(resumed.model.state_dict()[k], v, rtol=1e-5, atol=1e-6)


def test_loader_workers_do_not_change_the_result(data):
    plain = train(TINY, data["train"], epochs=2, **KW)
    workers = train(TINY, data["train"], epochs=2, num_workers=1, **KW)
    assert same(weights_of(plain), weights_of(workers))
