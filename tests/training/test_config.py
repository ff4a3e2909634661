"""TrainConfig: validation on construction, its JSON form, and which fields may differ on resume."""
from __future__ import annotations

import json
from dataclasses import FrozenInstanceError, fields
from pathlib import Path

import pytest

from pansharpen.errors import ValueRangeError
from pansharpen.training.config import DATA_FIELDS, RECIPE_FIELDS, RUN_FIELDS, TrainConfig, resume_differences
from pansharpen.training.presets import resolve_preset


def test_every_field_has_exactly_one_resume_rule():
    names = [f.name for f in fields(TrainConfig)]
    groups = [*RUN_FIELDS, *DATA_FIELDS, *RECIPE_FIELDS]
    assert sorted(groups) == sorted(names) and len(set(groups)) == len(groups)


def test_frozen_typed_and_plain_json():
    cfg = TrainConfig("lightnet", "train.h5", epochs=3, out="w.safetensors", model_options={"init": "balanced"},
                      preset=resolve_preset("lightnet", "paper"))
    assert isinstance(cfg.data, Path) and isinstance(cfg.out, Path)
    with pytest.raises(FrozenInstanceError):
        cfg.epochs = 4
    d = cfg.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["data"] == "train.h5" and d["model_options"] == {"init": "balanced"} and d["preset"]["name"] == "lightnet"


@pytest.mark.parametrize("kwargs, message", [
    ({"epochs": 0}, "epochs must be a positive integer"),
    ({"epochs": 2.5}, "epochs must be a positive integer"),
    ({"minutes": -1}, "minutes must be a positive number"),
    ({"minutes": float("nan")}, "minutes must be a positive number"),
    ({"batch_size": 0}, "batch size"),
    ({"lr": 0.0}, "learning rate"),
    ({"loss": "huber"}, "loss must be one of l1, mse"),
    ({"seed": -1}, "seed"),
    ({"validate_every": -1}, "validate_every"),
    ({"checkpoint_every": 0}, "checkpoint_every"),
    ({"schedule": "cosine"}, "schedule must be one of scaled, paper"),
    ({"select": "first"}, "select must be"),
    ({"select_metric": "PSNR"}, "select_metric must be one of Q2n, SAM, ERGAS, L1"),
    ({"num_workers": -2}, "num_workers"),
    ({"normaliser": 0}, "normaliser must be a positive number"),
    ({"resume": True}, "resume needs out="),
    ({"force": True, "out": "w.safetensors"}, "--overwrite"),
    ({"data": 3}, "data must be"),
])
def test_invalid_values_are_refused_with_what_to_do(kwargs, message):
    args = {"model": "lightnet", "data": "train.h5", **kwargs}
    with pytest.raises(ValueRangeError, match=message):
        TrainConfig(**args)


def test_resume_differences_by_group():
    base = TrainConfig("lightnet", "a.h5", out="w.safetensors", lr=0.01, weights="/x/start.safetensors").to_dict()
    # run fields may differ; a moved start file is the same start; an omitted lr means "as recorded"
    same = TrainConfig("lightnet", "a.h5", out="v.safetensors", epochs=9, minutes=1, quiet=True, device="cuda",
                       resume=True, weights="/y/start.safetensors").to_dict()
    assert resume_differences(base, same) == ([], [])
    other = TrainConfig("lightnet", "a.h5", out="w.safetensors", lr=0.02, seed=1, select="last",
                        weights="start.safetensors").to_dict()
    assert resume_differences(base, other) == (["select"], ["lr", "seed"])
