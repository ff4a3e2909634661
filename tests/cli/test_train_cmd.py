"""``pansharpen train``: the command line over the training pipeline (LightNet on a tiny 8-band set)."""
from __future__ import annotations

import numpy as np
import pytest

from pansharpen.cli import main
from pansharpen.io.pancollection import write_pancollection
from pansharpen.models import read_card
from pansharpen.training.checkpointing import load_checkpoint


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory):
    rng = np.random.default_rng(0)
    n, c = 8, 8
    gt = rng.uniform(100, 1500, (n, c, 16, 16))
    ms = gt.reshape(n, c, 4, 4, 4, 4).mean(axis=(3, 5))
    lms = np.repeat(np.repeat(ms, 4, 2), 4, 3)
    pan = gt.mean(1, keepdims=True)
    path = tmp_path_factory.mktemp("cli-train") / "set.h5"
    write_pancollection(path, {"gt": gt, "ms": ms, "lms": lms, "pan": pan}, {"sensor": "WV3"})
    return path


def run(capsys, *args):
    code = main(["train", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_then_resume(tiny_set, tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    code, stdout, err = run(capsys, "lightnet", "--data", tiny_set, "--epochs", "1", "--batch-size", "4",
                            "--out", out, "--quiet")
    assert code == 0, err
    assert f"wrote {out}: 1 epochs, 2 steps, stopped by epochs" in stdout
    card = read_card(out)
    assert card.arch == "lightnet" and card.training["preset"]["loss"] == "l1"
    assert card.training["command"].startswith("pansharpen ")
    code, stdout, err = run(capsys, "lightnet", "--data", tiny_set, "--epochs", "2", "--out", out, "--resume", "-q")
    assert code == 0, err
    assert "2 epochs, 4 steps" in stdout
    assert load_checkpoint(tmp_path / "w.ckpt")["epoch"] == 2


def test_preset_and_overrides_reach_the_recipe(tiny_set, tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    code, _, err = run(capsys, "lightnet", "--data", tiny_set, "--preset", "lgpconv-net", "--batch-size", "2",
                       "--lr", "0.001", "--epochs", "1", "--normaliser", "1023", "--out", out, "-q")
    assert code == 0, err
    assert read_card(out).normaliser == 1023.0
    p = read_card(out).training["preset"]
    assert (p["name"], p["loss"], p["batch_size"], p["lr"], p["weight_decay"]) == ("lgpconv-net", "mse", 2, 0.001, 1e-8)


def test_loss_and_model_options_reach_the_recipe_and_the_card(tiny_set, tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    code, _, err = run(capsys, "lightnet", "--data", tiny_set, "--loss", "mse", "-O", "init=balanced",
                       "--option", "blocks=1", "--epochs", "1", "--batch-size", "4", "--out", out, "-q")
    assert code == 0, err
    card = read_card(out)
    assert card.training["preset"]["loss"] == "mse"
    assert card.options == {"init": "balanced", "blocks": 1}  # YAML scalars: 1 is an int


@pytest.mark.parametrize(
    "args, message",
    [
        (["lightnet", "--out", "{tmp}/w.safetensors"], "--data"),
        (["lightnet", "--data", "{tmp}/missing.h5", "--out", "{tmp}/w.safetensors"], "does not exist"),
        (["lightnet", "--data", "{set}", "--preset", "nope", "--out", "{tmp}/w.safetensors"], "unknown preset"),
        (["lightnet", "--data", "{set}", "--epochs", "0", "--out", "{tmp}/w.safetensors"], "epochs"),
        (["lightnet", "--scene", "a.tif", "b.tif", "--out", "{tmp}/w.safetensors"], "--weights"),
        (["nonet", "--data", "{set}", "--out", "{tmp}/w.safetensors"], "unknown model"),
        (["lightnet", "--data", "{set}", "--loss", "l2", "--out", "{tmp}/w.safetensors"], "loss must be one of"),
        (["lightnet", "--data", "{set}", "-O", "init", "--out", "{tmp}/w.safetensors"], "KEY=VALUE"),
        (["lightnet", "--data", "{set}", "-O", "depth=3", "--out", "{tmp}/w.safetensors"], "unknown option"),
        (["lightnet", "--data", "{set}", "-O", "init=xavier", "--out", "{tmp}/w.safetensors"], "bad option value"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_set, tmp_path, capsys, args, message):
    args = [a.format(tmp=tmp_path, set=tiny_set) for a in args]
    code, _, err = run(capsys, *args, "-q")
    assert code == 2
    assert err.startswith("pansharpen: error:") and message in err and err.count("\n") == 1


def test_existing_output_needs_resume_or_overwrite(tiny_set, tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    assert run(capsys, "lightnet", "--data", tiny_set, "--epochs", "1", "--out", out, "-q")[0] == 0
    code, _, err = run(capsys, "lightnet", "--data", tiny_set, "--epochs", "1", "--out", out, "-q")
    assert code == 2 and "--overwrite" in err
    assert run(capsys, "lightnet", "--data", tiny_set, "--epochs", "1", "--out", out, "--overwrite", "-q")[0] == 0


def test_resume_with_other_data_needs_force(tiny_set, tmp_path, capsys):
    out = tmp_path / "w.safetensors"
    code, _, err = run(capsys, "lightnet", "--data", tiny_set, "--epochs", "1", "--batch-size", "4", "--out", out, "-q")
    assert code == 0, err
    other = tmp_path / "other.h5"
    other.write_bytes(tiny_set.read_bytes())  # same content under another name: still another data file
    code, _, err = run(capsys, "lightnet", "--data", other, "--epochs", "2", "--out", out, "--resume", "-q")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "data: set.h5" in err and "other.h5" in err and "--force" in err
    assert load_checkpoint(tmp_path / "w.ckpt")["epoch"] == 1
    code, stdout, err = run(capsys, "lightnet", "--data", other, "--epochs", "2", "--out", out, "--resume", "--force", "-q")
    assert code == 0, err
    assert "2 epochs, 4 steps" in stdout
    assert read_card(out).training["data"]["name"] == "other.h5"
    code, _, err = run(capsys, "lightnet", "--data", other, "--epochs", "3", "--out", out, "--force", "-q")
    assert code == 2 and "--resume --force" in err
