"""Benchmark runs: tables equal direct metric calls, N-1 aggregation, seeds, timing, config errors, CLI."""
from __future__ import annotations

import csv
import json
import math

import h5py
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from pansharpen import models
from pansharpen.classical.registry import get_method
from pansharpen.errors import DataFormatError, ModelError, SensorError, ShapeError, ValueRangeError
from pansharpen.metrics.reduced import reduced_resolution_indices
from pansharpen.benchmark.runner import aggregate, measure_timing, run_benchmark
from pansharpen.benchmark.config import load_config
from pansharpen.benchmark.tables import Row, latex_table, markdown_table, mean_std
from pansharpen.protocol.sensors import get_sensor

BANDS, SIDE, RATIO = 4, 32, 4


def _scene(seed: int, n: int = 2):
    """Smooth random 4-band DN images; PAN = band mean + noise; MS = 4x4 block means (Wald-like)."""
    rng = np.random.default_rng(seed)
    gt = np.stack([gaussian_filter(rng.uniform(200, 1500, (BANDS, SIDE, SIDE)), (0, 1.5, 1.5)) for _ in range(n)])
    pan = gt.mean(axis=1, keepdims=True) + rng.normal(0, 3, (n, 1, SIDE, SIDE))
    ms = gt.reshape(n, BANDS, SIDE // RATIO, RATIO, SIDE // RATIO, RATIO).mean(axis=(3, 5))
    lms = np.repeat(np.repeat(ms, RATIO, axis=2), RATIO, axis=3)
    return {"gt": gt, "ms": ms, "lms": lms, "pan": pan}


def _write(path, arrays, sensor="QB"):
    with h5py.File(path, "w") as f:
        for k, v in arrays.items():
            f[k] = v
        f.attrs["sensor"] = sensor
    return path


@pytest.fixture
def sets(tmp_path):
    rr = _write(tmp_path / "test_rr.h5", _scene(0))
    fr_arrays = {k: v for k, v in _scene(1).items() if k != "gt"}
    fr = _write(tmp_path / "test_fr.h5", fr_arrays)
    return rr, fr


def _config(rr, **extra):
    cfg = {
        "name": "tiny",
        "protocol": {"sensor": "QB", "ratio": RATIO, "crop": 0, "block_size": 32},
        "test_sets": [{"name": "rr", "path": str(rr), "resolution": "reduced"}],
        "methods": [
            {"label": "GSA", "classical": "gsa"},
            {"label": "MTF-GLP", "classical": "mtf-glp"},
            {"label": "LightNet (random)", "network": "lightnet", "weights": "random", "seeds": [0]},
        ],
        "timing": {"repeats": 2, "warmup": 0},
        "figures": {"inset": [4, 4, 8]},
    }
    cfg.update(extra)
    return cfg


def _read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# ------------------------------------------------------------------------------ end to end
@pytest.mark.slow
def test_tiny_config_end_to_end_writes_tables_and_matches_direct_metrics(sets, tmp_path):
    rr, _ = sets
    out = tmp_path / "out"
    result = run_benchmark(_config(rr), out)

    for name in ("results.md", "results.csv", "results.tex", "per_image.csv", "protocol.json", "timing.md",
                 "timing.csv", "timing.tex", "figures/comparison_rr.png"):
        assert (out / name).is_file(), name
    tex = (out / "results.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    md = (out / "results.md").read_text()
    assert "crop (dim_cut) 0" in md and "block 32" in md and "sensor QB" in md and "torch" in md

    # the GSA row equals the metrics called directly on GSA's output, image by image
    with h5py.File(rr) as f:
        gt, ms, pan = f["gt"][()], f["ms"][()], f["pan"][()]
    gsa = get_method("gsa")
    direct = [reduced_resolution_indices(gt[i], gsa(ms[i], pan[i], get_sensor("QB"), RATIO), ratio=RATIO) for i in range(2)]
    per_image = [r for r in _read_csv(out / "per_image.csv") if r["method"] == "GSA"]
    assert len(per_image) == 2
    for rec, ref in zip(per_image, direct):
        for k in ("Q2n", "Q", "SAM", "ERGAS", "SCC"):
            assert float(rec[k]) == pytest.approx(ref[k], rel=1e-12)
    row = next(r for r in _read_csv(out / "results.csv") if r["method"] == "GSA")
    for k in ("Q2n", "SAM", "ERGAS", "SCC"):
        values = np.array([d[k] for d in direct])
        assert float(row[f"{k}_mean"]) == pytest.approx(values.mean(), rel=1e-12)
        assert float(row[f"{k}_std"]) == pytest.approx(values.std(ddof=1), rel=1e-10)  # N-1, not N
        assert float(row[f"{k}_std"]) != pytest.approx(values.std(ddof=0), rel=1e-6)

    net = next(r for r in result.tables["rr"] if r.label == "LightNet (random)")
    assert net.params == models.count_parameters(models.create("lightnet", bands=BANDS))
    assert net.macs_per_pixel > 0 and net.gmacs_64 == pytest.approx(net.macs_per_pixel * 4096 / 1e9)
    assert math.isfinite(net.seconds) and net.seconds > 0
    # timing table: the foldable LightNet appears in both forms; ratios are relative to the fastest
    labels = {t.label for t in result.timing}
    assert {"GSA", "MTF-GLP", "LightNet (random) (unfolded)", "LightNet (random) (folded)"} == labels
    rows = _read_csv(out / "timing.csv")
    assert min(float(r["ratio_to_fastest"]) for r in rows) == pytest.approx(1.0)
    for r in rows:
        assert float(r["ratio_to_fastest"]) == pytest.approx(float(r["median_s"]) / min(float(x["median_s"]) for x in rows))


def test_full_resolution_set_and_seed_aggregation(sets, tmp_path):
    rr, fr = sets
    cfg = _config(rr, test_sets=[{"name": "fr", "path": str(fr), "resolution": "full"}],
                  methods=[{"label": "GSA", "classical": "gsa"},
                           {"label": "PNN", "network": "lgpconv-net", "options": {"conv": "standard"}, "weights": "random", "seeds": [3, 4]}],
                  timing=False, figures=False)
    result = run_benchmark(cfg, tmp_path / "out")
    recs = [r for r in result.per_image if r["method"] == "PNN"]
    assert sorted({r["seed"] for r in recs}) == [3, 4] and len(recs) == 4
    cells, n_seeds, n_images = aggregate(recs, ("QNR", "HQNR"))
    assert (n_seeds, n_images) == (2, 2)
    for k in ("QNR", "HQNR", "D_s"):
        table = np.array([[next(r[k] for r in recs if r["seed"] == s and r["image"] == i) for i in range(2)] for s in (3, 4)])
        mean, std, seed_std = next(r for r in result.tables["fr"] if r.label == "PNN").cells[k]
        assert mean == pytest.approx(table.mean())
        assert std == pytest.approx(table.mean(axis=0).std(ddof=1))
        assert seed_std == pytest.approx(table.mean(axis=1).std(ddof=1))
    # different seeds give different networks, hence different numbers
    assert recs[0]["QNR"] != next(r["QNR"] for r in recs if r["seed"] == 4 and r["image"] == recs[0]["image"])
    assert not (tmp_path / "out" / "figures" / "comparison_fr.png").exists()
    assert "Seed spread" in result.markdown


def test_training_budget_trains_per_seed_caches_and_draws_curves(sets, tmp_path):
    rr, _ = sets
    train = _write(tmp_path / "train.h5", _scene(5, n=2))
    cfg = _config(rr, methods=[{"label": "PNN", "network": "lgpconv-net", "options": {"conv": "standard", "blocks": 1},
                                "train": {"train": str(train), "valid": str(rr), "epochs": 1, "batch_size": 2},
                                "seeds": [0, 1]}], timing=False)
    out = tmp_path / "out"
    result = run_benchmark(cfg, out)
    assert len(result.histories["PNN"]) == 2 and all(len(h) == 1 for h in result.histories["PNN"])
    assert (out / "figures" / "training_curves.png").is_file()
    record = json.loads((out / "training" / "pnn_seed1.json").read_text())
    assert len(record["history"]) == 1 and "SAM" in record["history"][0]
    from pansharpen.viz.figures import read_history

    assert read_history(out / "weights" / "pnn_seed1.ckpt") == record["history"]  # the train pipeline's own record
    weights = out / "weights" / "pnn_seed0.safetensors"
    stamp = weights.stat().st_mtime_ns
    again = run_benchmark(cfg, out)  # unchanged config: cached weights are reused, not retrained
    assert weights.stat().st_mtime_ns == stamp
    assert again.tables["rr"][0].cells["SAM"] == pytest.approx(result.tables["rr"][0].cells["SAM"])


@pytest.mark.slow
def test_parallel_train_only_then_evaluation_reuses_the_same_weights(sets, tmp_path):
    """--jobs trains (network, seed) pairs in spawned processes; --train-only stops before fusing;
    the next run evaluates the cached weights, equal to a sequential run's."""
    rr, _ = sets
    train = _write(tmp_path / "train.h5", _scene(5, n=2))
    budget = {"train": str(train), "epochs": 1, "batch_size": 2}
    cfg = _config(rr, methods=[{"label": "Net", "network": "lgpconv-net", "options": {"conv": "standard", "blocks": 1},
                                "train": budget, "seeds": [0, 1]}], timing=False)
    par, seq = tmp_path / "par", tmp_path / "seq"
    assert run_benchmark(cfg, par, jobs=2, train_only=True) is None
    assert sorted(p.name for p in (par / "weights").glob("*.safetensors")) == ["net_seed0.safetensors", "net_seed1.safetensors"]
    assert not (par / "results.md").exists()
    stamps = {p.name: p.stat().st_mtime_ns for p in (par / "weights").glob("*.safetensors")}
    evaluated = run_benchmark(cfg, par)
    assert {p.name: p.stat().st_mtime_ns for p in (par / "weights").glob("*.safetensors")} == stamps  # reused
    sequential = run_benchmark(cfg, seq)
    for a, b in zip(evaluated.tables["rr"], sequential.tables["rr"]):
        assert a.cells["SAM"] == pytest.approx(b.cells["SAM"], rel=1e-6)  # seeded: same weights either way
    record = json.loads((par / "training" / "net_seed0.json").read_text())
    assert record["device"] == "cpu"


# ------------------------------------------------------------------------------ tables
def test_mean_std_uses_n_minus_1_and_nan_for_one_value():
    values = [1.0, 2.0, 4.0]
    assert mean_std(values) == pytest.approx((np.mean(values), np.std(values, ddof=1)))
    m, s = mean_std([3.0])
    assert m == 3.0 and math.isnan(s)


def test_tables_bold_the_best_in_each_direction():
    rows = [Row("A", {"SAM": (3.0, 0.1, math.nan), "Q2n": (0.90, 0.01, math.nan)}),
            Row("B", {"SAM": (2.0, 0.1, math.nan), "Q2n": (0.80, 0.01, math.nan)})]
    md = markdown_table(rows, ("Q2n", "SAM"))
    line_a = next(l for l in md.splitlines() if l.startswith("| A"))
    line_b = next(l for l in md.splitlines() if l.startswith("| B"))
    assert "**0.9000 ± 0.0100**" in line_a and "**" not in line_a.split("|")[3]  # A best Q2n (higher), not SAM
    assert "**2.0000 ± 0.1000**" in line_b  # B best SAM (lower)
    tex = latex_table(rows, ("Q2n", "SAM"), "cap", "tab:x", comments=["protocol line"])
    assert tex.startswith("% protocol line") and r"\textbf{2.0000}$\pm$0.1000" in tex


def test_timing_adds_the_traced_form_that_fuse_runs_for_lgpconv_net(sets, tmp_path):
    rr, _ = sets
    cfg = _config(rr, methods=[{"label": "LGP", "network": "lgpconv-net", "weights": "random", "seeds": [0]}],
                  figures=False)
    result = run_benchmark(cfg, tmp_path / "out", quiet=True)
    labels = [t.label for t in result.timing]
    assert labels == ["LGP (unfolded)", "LGP (folded)", "LGP (traced)"]
    assert all(t.median > 0 and len(t.times) == 2 for t in result.timing)


def test_measure_timing_interleaves_and_takes_the_median():
    calls = []
    durations = {"a": iter([0.0, 0.0, 0.0]), "b": iter([0.0, 0.0, 0.0])}

    def make(name):
        def fn(ms, pan, lms):
            calls.append(name)
            next(durations[name])
        return fn

    sample = {"ms": np.zeros((1, 2, 2)), "pan": np.zeros((1, 8, 8))}
    rows = measure_timing([("a", make("a"), None, None), ("b", make("b"), 10, 5.0)], sample, repeats=3, warmup=0)
    assert calls == ["a", "b", "a", "b", "a", "b"]
    for r in rows:
        assert len(r.times) == 3 and r.median == pytest.approx(float(np.median(r.times)))
    assert rows[1].params == 10 and rows[1].macs_per_pixel == 5.0


# ---------------------------------------------------------------------- config validation
def test_unknown_classical_method_is_refused_before_any_work(sets, tmp_path):
    rr, _ = sets
    cfg = _config(rr)
    cfg["methods"].append({"label": "X", "classical": "no-such-method"})
    out = tmp_path / "never"
    with pytest.raises(ModelError, match="unknown classical method 'no-such-method'"):
        run_benchmark(cfg, out)
    assert not out.exists()


def test_unknown_network_and_bad_options_are_refused(sets):
    rr, _ = sets
    with pytest.raises(ModelError, match="unknown network 'nonet'"):
        load_config(_config(rr, methods=[{"network": "nonet", "weights": "random"}]))
    with pytest.raises(ModelError, match="conv"):
        load_config(_config(rr, methods=[{"network": "lgpconv-net", "weights": "random", "options": {"conv": "nope"}}]))


def test_reduced_resolution_on_a_set_without_ground_truth_is_refused(sets):
    _, fr = sets
    cfg = _config(fr, test_sets=[{"name": "fr", "path": str(fr), "resolution": "reduced"}])
    with pytest.raises(DataFormatError, match="ground truth.*no 'gt'"):
        load_config(cfg)


def test_weights_for_another_band_count_are_refused(sets, tmp_path):
    rr, _ = sets
    path = models.save(models.create("lightnet", bands=8), tmp_path / "lightnet8.safetensors")
    with pytest.raises(ModelError, match="8-band data but test set 'rr' has 4 bands"):
        load_config(_config(rr, methods=[{"label": "L8", "network": "lightnet", "weights": str(path)}]))
    with pytest.raises(ModelError, match="holds lightnet weights, not pnn"):
        load_config(_config(rr, methods=[{"network": "pnn", "weights": str(path)}]))


def test_training_data_with_another_band_count_is_refused(sets, tmp_path):
    rr, _ = sets
    rng = np.random.default_rng(0)
    other = _write(tmp_path / "train8.h5", {"gt": rng.uniform(1, 9, (2, 8, 32, 32)), "ms": rng.uniform(1, 9, (2, 8, 8, 8)),
                                            "lms": rng.uniform(1, 9, (2, 8, 32, 32)),
                                            "pan": rng.uniform(1, 9, (2, 1, 32, 32))}, sensor="WV3")
    with pytest.raises(ShapeError, match="8-band MS but the test sets have \\[4\\] bands"):
        load_config(_config(rr, methods=[{"network": "pnn", "train": {"train": str(other), "epochs": 1}}]))


@pytest.mark.parametrize("mutate, error, match", [
    (lambda c: c["test_sets"][0].update(path="missing.h5"), DataFormatError, "does not exist"),
    (lambda c: c["methods"].append({"network": "pnn", "weights": "missing.safetensors"}), DataFormatError,
     "neither a file"),
    (lambda c: c.update(extra_key=1), DataFormatError, "unknown key"),
    (lambda c: c["methods"].append({"label": "GSA", "classical": "gs"}), DataFormatError, "labels repeat"),
    (lambda c: c["methods"].append({"network": "pnn"}), DataFormatError, "exactly one of 'weights"),
    (lambda c: c["methods"].append({"network": "pnn", "train": {"train": "x.h5"}}), ValueRangeError, "epochs or minutes"),
    (lambda c: c["methods"].append({"classical": "gsa", "seeds": [1], "label": "G2"}), DataFormatError, "takes no 'seeds'"),
    (lambda c: c["protocol"].update(sensor="NoSat"), SensorError, "unknown sensor"),
    (lambda c: c["protocol"].update(ratio=2), ShapeError, "with protocol.ratio 2"),
    (lambda c: c["protocol"].update(crop=-1), ValueRangeError, "crop"),
    (lambda c: c["figures"].update(image=5), ValueRangeError, "beyond the 2 images"),
    (lambda c: c.update(methods=[]), DataFormatError, "non-empty list"),
])
def test_config_errors(sets, mutate, error, match):
    rr, _ = sets
    cfg = _config(rr)
    mutate(cfg)
    with pytest.raises(error, match=match):
        load_config(cfg)


def test_yaml_and_toml_files_with_relative_paths(sets, tmp_path):
    rr, _ = sets
    (tmp_path / "b.yaml").write_text(
        "name: y\nprotocol: {sensor: QB}\ntest_sets:\n  - {name: rr, path: test_rr.h5}\nmethods:\n  - {classical: gsa}\n"
    )
    (tmp_path / "b.toml").write_text(
        'name = "t"\n[protocol]\nsensor = "QB"\n[[test_sets]]\nname = "rr"\npath = "test_rr.h5"\n'
        '[[methods]]\nclassical = "brovey"\n'
    )
    y, t = load_config(tmp_path / "b.yaml"), load_config(tmp_path / "b.toml")
    assert y.test_sets[0].path == rr and t.test_sets[0].path == rr
    assert y.test_sets[0].resolution == "reduced"  # inferred from the gt in the file
    assert y.methods[0].label == "gsa" and t.methods[0].name == "brovey"
    (tmp_path / "bad.yaml").write_text("name: [unclosed\n")
    with pytest.raises(DataFormatError, match="cannot be parsed"):
        load_config(tmp_path / "bad.yaml")
    with pytest.raises(DataFormatError, match="unknown format"):
        load_config(tmp_path / "test_rr.h5")


# ----------------------------------------------------------------------------------- CLI
def test_cli_runs_a_config_and_reports_errors_with_exit_code_2(sets, tmp_path, capsys):
    from typer.testing import CliRunner

    import pansharpen.cli.benchmark_cmd  # noqa: F401  (registers the command)
    from pansharpen.cli import main
    from pansharpen.cli.app import app

    rr, _ = sets
    cfg = tmp_path / "c.yaml"
    cfg.write_text("name: cli\nprotocol: {sensor: QB}\ntest_sets:\n  - {name: rr, path: test_rr.h5}\n"
                   "methods:\n  - {classical: gsa}\n  - {classical: brovey}\ntiming: {repeats: 1}\n")
    out = tmp_path / "cli-out"
    res = CliRunner().invoke(app, ["benchmark", str(cfg), "--out", str(out), "--quiet"])
    assert res.exit_code == 0, res.output
    assert "| gsa |" in res.output and (out / "results.csv").is_file()
    res = CliRunner().invoke(app, ["benchmark", str(cfg), "--check"])
    assert res.exit_code == 0 and "OK" in res.output
    res = CliRunner().invoke(app, ["benchmark", str(cfg), "--out", str(out), "--train-device", "tpu"])
    assert res.exit_code != 0 and "cpu or cuda" in res.output

    bad = tmp_path / "bad.yaml"
    bad.write_text("test_sets:\n  - {path: test_rr.h5}\nmethods:\n  - {classical: nope}\n")
    assert main(["benchmark", str(bad), "--out", str(tmp_path / "x")]) == 2
    assert "unknown classical method 'nope'" in capsys.readouterr().err


def test_figure_columns_follow_figures_methods_and_nan_output_is_reported(sets, tmp_path, monkeypatch):
    from matplotlib.image import imread

    from pansharpen.fusion.fusers import ClassicalFuser

    rr, _ = sets
    cfg = _config(rr, methods=[{"label": "GSA", "classical": "gsa"}, {"label": "Brovey", "classical": "brovey"}],
                  timing=False, figures={"methods": ["Brovey"]})
    run_benchmark(cfg, tmp_path / "out")
    assert imread(tmp_path / "out" / "figures" / "comparison_rr.png").shape[:2] == (2 * 240, 2 * 240)

    monkeypatch.setattr(ClassicalFuser, "fuse_image", lambda self, ms, pan, lms=None: np.full((BANDS, SIDE, SIDE), np.nan))
    with pytest.raises(ValueRangeError, match="GSA .*NaN/inf on image 0 of rr"):
        run_benchmark(cfg, tmp_path / "out2")
    with pytest.raises(DataFormatError, match="figures.methods"):
        load_config(_config(rr, figures={"methods": ["nope"]}))
