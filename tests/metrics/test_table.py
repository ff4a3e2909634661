"""Aggregation (mean ± std N-1, per-image HQNR) and paper-order tables."""
from __future__ import annotations

import math

import numpy as np
import pytest

from pansharpen.errors import DataFormatError
from pansharpen.metrics.table import FR_ORDER, RR_ORDER, aggregate, format_table, order_names


def test_aggregate_uses_matlab_std():
    rows = [{"SAM": 1.0, "ERGAS": 2.0}, {"SAM": 2.0, "ERGAS": 4.0}, {"SAM": 4.0, "ERGAS": 6.0}]
    out = aggregate(rows)
    # hand computed: mean 7/3, sum of squared deviations 14/3, N-1 = 2
    assert out["SAM"][0] == pytest.approx(7 / 3, rel=1e-15)
    assert out["SAM"][1] == pytest.approx(math.sqrt(7 / 3), rel=1e-15)
    assert out["ERGAS"] == pytest.approx((4.0, 2.0), rel=1e-15)
    assert aggregate([{"SAM": 3.0}]) == {"SAM": (3.0, 0.0)}  # MATLAB std of a scalar is 0


def test_hqnr_is_averaged_per_image_not_recombined():
    rows = [
        {"D_lambda_K": 0.1, "D_s": 0.5, "HQNR": 0.9 * 0.5},
        {"D_lambda_K": 0.5, "D_s": 0.1, "HQNR": 0.5 * 0.9},
    ]
    out = aggregate(rows)
    assert out["HQNR"][0] == pytest.approx(0.45, rel=1e-15)
    recombined = (1 - out["D_lambda_K"][0]) * (1 - out["D_s"][0])
    assert recombined == pytest.approx(0.49) and out["HQNR"][0] != pytest.approx(recombined)


def test_paper_order_and_non_numeric_entries():
    rows = [{"Q": 0.9, "Q2n": 0.8, "SCC": 0.95, "ERGAS": 3.0, "SAM": 4.0, "cropped_to": [32, 32]}] * 2
    assert list(aggregate(rows)) == list(RR_ORDER)
    fr = {"HQNR": 0.9, "QNR": 0.9, "D_lambda": 0.01, "D_s": 0.05, "D_lambda_K": 0.02}
    assert order_names(fr) == list(FR_ORDER)
    assert order_names(["PSNR", "SAM", "Q2n"]) == ["SAM", "Q2n", "PSNR"]


def test_nan_propagates_like_matlab_mean():
    out = aggregate([{"D_s": 0.1}, {"D_s": float("nan")}])
    assert np.isnan(out["D_s"][0]) and np.isnan(out["D_s"][1])


def test_bad_rows():
    with pytest.raises(DataFormatError, match="at least one row"):
        aggregate([])
    with pytest.raises(DataFormatError, match="row 1 lacks SAM"):
        aggregate([{"SAM": 1.0, "Q": 0.5}, {"Q": 0.4}])
    with pytest.raises(DataFormatError, match="style"):
        format_table({"SAM": 1.0}, style="html")


def test_format_table_styles():
    summary = {"EXP": {"HQNR": (0.8975, 0.0362), "D_s": (0.0813, 0.0318), "D_lambda_K": (0.0232, 0.0066)}}
    text = format_table(summary)
    header, row = text.splitlines()
    assert header.split() == ["D_lambda_K↓", "D_s↓", "HQNR↑"]
    assert row.split() == ["EXP", "0.0232", "±", "0.0066", "0.0813", "±", "0.0318", "0.8975", "±", "0.0362"]
    latex = format_table(summary, digits=3, style="latex", arrows=False)
    assert r"EXP & 0.023$\pm$0.007 & 0.081$\pm$0.032 & 0.897$\pm$0.036 \\" in latex
    md = format_table([{"SAM": 2.5, "Q2n": 0.9}, {"SAM": 3.0, "Q2n": 0.8}], digits=2, style="markdown")
    assert md.splitlines()[0] == "|  | SAM↓ | Q2n↑ |"
    assert md.splitlines()[3] == "| 2 | 3.00 | 0.80 |"


def test_format_table_skips_non_index_entries():
    rows = [{"D_s": 0.05, "HQNR": 0.9, "cropped_to": [480, 480]}]
    text = format_table(rows)
    assert "480" not in text and "cropped_to" not in text
    assert text.splitlines()[1].split() == ["1", "0.0500", "0.9000"]
