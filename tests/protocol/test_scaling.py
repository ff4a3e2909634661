"""The network scale: DN / normaliser and back, and the one rule that picks the normaliser."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.models.cards import ModelCard
from pansharpen.protocol.scaling import (
    DEFAULT_NORMALISER,
    from_network,
    network_normaliser,
    normaliser_from_attrs,
    to_network,
)


def test_to_network_is_float64_division_rounded_to_float32():
    dn = np.array([[0, 1, 1023, 2047, 4095]], dtype=np.uint16)
    x = to_network(dn, 2047.0)
    assert x.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), (dn.astype(np.float64) / 2047.0).astype(np.float32))
    # the input's type does not matter
    np.testing.assert_array_equal(to_network(dn.astype(np.float32), 2047.0).numpy(), x.numpy())
    np.testing.assert_array_equal(to_network(torch.from_numpy(dn.astype(np.int32)), 2047.0).numpy(), x.numpy())


def test_from_network_is_float64_product():
    x = torch.tensor([[0.0, 0.5, 1.0, 1.25]], requires_grad=True)
    dn = from_network(x, 1023.0)
    assert dn.dtype == np.float64
    np.testing.assert_array_equal(dn, x.detach().numpy().astype(np.float64) * 1023.0)
    rng = np.random.default_rng(0)
    values = rng.integers(0, 2048, (3, 8, 8)).astype(np.float64)
    np.testing.assert_allclose(from_network(to_network(values, 2047.0), 2047.0), values, rtol=1e-7, atol=0)


def test_normaliser_from_attrs():
    assert normaliser_from_attrs({"normaliser": 1023}) == 1023.0
    assert normaliser_from_attrs({"max_value": 4095.0, "sensor": "WV3"}) == 4095.0  # explicit beats sensor
    assert normaliser_from_attrs({"sensor": "GF2"}) == 1023.0  # 10 bits
    assert normaliser_from_attrs({"sensor": "WV3"}) == 2047.0
    assert normaliser_from_attrs({"sensor": "no-such-sensor"}) is None
    assert normaliser_from_attrs({"normaliser": 0, "source": "x"}) is None


def test_rule_order_option_card_file_sensor_default():
    card = ModelCard(name="m", arch="lightnet", bands=4, normaliser=1023.0)
    attrs = {"sensor": "WV3"}
    assert network_normaliser(given=255.0, card=card, attrs=attrs, sensor="GF2") == 255.0
    assert network_normaliser(card=card, attrs=attrs, sensor="GF2") == 1023.0
    assert network_normaliser(attrs={"normaliser": 4095}, sensor="GF2") == 4095.0
    assert network_normaliser(attrs={"source": "x"}, sensor="GF2") == 1023.0
    assert network_normaliser() == DEFAULT_NORMALISER == 2047.0
