"""Atomic checkpoint writes, damaged-file errors, RNG state round trips."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from pansharpen.errors import DataFormatError
from pansharpen.training import checkpointing
from pansharpen.training.checkpointing import (
    CHECKPOINT_FORMAT, atomic_torch_save, capture_rng_state, load_checkpoint, restore_rng_state,
)


def test_round_trip_with_weights_only(tmp_path):
    state = {"format": CHECKPOINT_FORMAT, "w": torch.arange(4.0), "epoch": 3, "rng": capture_rng_state()}
    path = atomic_torch_save(state, tmp_path / "sub" / "a.ckpt")
    back = load_checkpoint(path)
    assert torch.equal(back["w"], state["w"]) and back["epoch"] == 3


def test_a_write_killed_midway_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "a.ckpt"
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "epoch": 1}, path)
    before = path.read_bytes()

    def dying_save(obj, f):
        f.write(b"half a checkpoint")
        raise KeyboardInterrupt  # the process is stopped while writing

    monkeypatch.setattr(checkpointing.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        atomic_torch_save({"format": CHECKPOINT_FORMAT, "epoch": 2}, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"]  # no temp file left behind
    monkeypatch.undo()
    assert load_checkpoint(path)["epoch"] == 1


def test_damaged_missing_and_foreign_files(tmp_path):
    with pytest.raises(DataFormatError, match="no training checkpoint"):
        load_checkpoint(tmp_path / "none.ckpt")
    good = atomic_torch_save({"format": CHECKPOINT_FORMAT, "w": torch.zeros(1000)}, tmp_path / "g.ckpt")
    truncated = tmp_path / "t.ckpt"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(DataFormatError, match="damaged"):
        load_checkpoint(truncated)
    foreign = atomic_torch_save({"model": {}}, tmp_path / "f.ckpt")
    with pytest.raises(DataFormatError, match="not a pansharpen training checkpoint"):
        load_checkpoint(foreign)


def test_rng_states_round_trip_through_a_file(tmp_path):
    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    path = atomic_torch_save({"format": CHECKPOINT_FORMAT, "rng": capture_rng_state()}, tmp_path / "r.ckpt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn())
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    restore_rng_state(load_checkpoint(path)["rng"])
    assert (random.random(), np.random.rand(), torch.rand(1).item(), np.random.randn()) == expected
