"""Training presets: the papers' recipes (values typed from seed-implementations.md 1.4, 2.5, 3.5),
overrides, and how the schedule scales when epochs are cut."""
from __future__ import annotations

import pytest

from pansharpen.errors import ModelError
from pansharpen.training.presets import Preset, preset_names, resolve_preset, scaled_step_size


def test_lightnet_recipe_is_the_spanconv_scripts():
    p = resolve_preset("lightnet")
    assert (p.loss, p.ergas_weight, p.optimiser, p.lr, p.betas, p.weight_decay) == ("l1", 0.0, "adam", 0.0025, (0.9, 0.999), 0.0)
    assert (p.step_size, p.gamma, p.batch_size, p.epochs) == (120, 0.75, 8, 800)


def test_lgpconv_recipe_is_the_lgpconv_scripts():
    p = resolve_preset("lgpconv-net")
    assert (p.loss, p.optimiser, p.lr, p.weight_decay) == ("mse", "adam", 0.0025, 1e-8)
    assert (p.step_size, p.gamma, p.batch_size, p.epochs) == (100, 0.5, 32, 650)


@pytest.mark.parametrize("arch", ["ada3d-pan", "ada3d-hs", "ada3d-hisr"])
def test_ada3d_recipe_is_l1_plus_ergas(arch):
    p = resolve_preset(arch)
    assert (p.loss, p.ergas_weight, p.lr, p.weight_decay) == ("l1", 3e-5, 5e-4, 0.0)
    assert (p.step_size, p.gamma, p.batch_size, p.epochs) == (250, 0.5, 2, 1500)


def test_every_registered_network_has_a_recipe():
    from pansharpen.models import list_models

    expected = {"lightnet": "lightnet", "lgpconv": "lgpconv-net", "ada3d": "ada3d", "fusionnet": "fusionnet"}
    for name in list_models():
        family = next((v for k, v in expected.items() if name.startswith(k)), "default")
        assert resolve_preset(name).name == family, name
    assert resolve_preset("lgpconv-net-bsconv").name == "lgpconv-net"


def test_presets_by_name_and_overrides():
    assert resolve_preset("lightnet", "lgpconv-net").loss == "mse"
    p = resolve_preset("lightnet", "paper", lr=1e-3, batch_size=16, epochs=None)
    assert (p.lr, p.batch_size, p.epochs) == (1e-3, 16, 800)
    assert resolve_preset("unknown-net").name == "default"
    assert set(preset_names()) >= {"lightnet", "lgpconv-net", "ada3d", "default"}
    custom = Preset("mine", loss="mse", lr=0.1, step_size=5, gamma=0.9, batch_size=4, epochs=10)
    assert resolve_preset("lightnet", custom) is custom


def test_bad_presets_and_overrides_are_refused():
    with pytest.raises(ModelError, match="unknown preset"):
        resolve_preset("lightnet", "adamw-magic")
    with pytest.raises(ModelError, match="unknown preset field"):
        resolve_preset("lightnet", momentun=0.9)
    with pytest.raises(ModelError, match="lr"):
        resolve_preset("lightnet", lr=-1.0)
    with pytest.raises(ModelError, match="lr"):
        resolve_preset("lightnet", lr=float("nan"))
    with pytest.raises(ModelError, match="batch_size"):
        resolve_preset("lightnet", batch_size=0)
    with pytest.raises(ModelError, match="loss"):
        Preset("x", loss="huber", lr=1, step_size=1, gamma=1, batch_size=1, epochs=1)


def test_schedule_scaling_keeps_the_number_of_decays():
    light = resolve_preset("lightnet")  # step 120 of 800 epochs: 6 decays (epochs 120 ... 720)
    assert scaled_step_size(light, 800) == 120
    assert scaled_step_size(light, 80) == 12  # 80 / 12 -> still 6 decays
    assert scaled_step_size(light, 3) == 1  # never below one epoch
    assert scaled_step_size(light, 80, "paper") == 120
    ada = resolve_preset("ada3d-pan")
    assert scaled_step_size(ada, 150) == 25
    with pytest.raises(ModelError, match="schedule"):
        scaled_step_size(light, 10, "cosine")
