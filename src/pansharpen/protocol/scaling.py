"""The network scale: digital numbers (DN) divided by a normaliser, and how that normaliser is chosen.

Networks see ``x = DN / normaliser`` (float32) and return fused values on the same scale;
``DN = x * normaliser`` (float64) converts back. The normaliser is the sensor's largest DN,
``2**bits - 1`` (2047 for the 11-bit WorldView/QuickBird products of the PanCollection
protocol, 1023 for GF2), recorded in a trained model's card.

One rule picks it (:func:`network_normaliser`), in this order:

1. an explicit value (``--normaliser``);
2. the model card's, for a trained model (its weights were fitted on that scale);
3. the data file's provenance (``normaliser``/``normalizer``/``max_value`` attribute, else its
   ``sensor`` name's ``2**bits - 1``), see :func:`normaliser_from_attrs`;
4. the sensor's ``2**bits - 1``;
5. 2047.

Fusion (:class:`pansharpen.fusion.network_fuser.NetworkFuser`), the benchmark, training and its
validation all convert through :func:`to_network` / :func:`from_network`.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from .._arrays import is_torch, torch_module
from ..errors import SensorError
from .sensors import get_sensor

if TYPE_CHECKING:
    import torch

#: the PanCollection protocol's normaliser (11-bit data)
DEFAULT_NORMALISER = 2047.0

_ATTR_KEYS = ("normaliser", "normalizer", "max_value")


def to_network(dn: "np.ndarray | torch.Tensor", normaliser: float) -> torch.Tensor:
    """DN (any shape, numpy or torch) -> float32 tensor on the network scale, ``dn / normaliser``.

    The division is done in float64 and then rounded to float32 (numpy inputs), so the result
    does not depend on the input's integer or float type."""
    if is_torch(dn):
        return (dn.double() / normaliser).float()
    return torch_module().from_numpy(np.asarray(dn, dtype=np.float64) / normaliser).float()


def from_network(x: torch.Tensor, normaliser: float) -> np.ndarray:
    """Network-scale tensor -> float64 DN numpy array, ``x * normaliser`` (detached, on the CPU)."""
    return x.detach().cpu().double().numpy() * normaliser


def normaliser_from_attrs(attrs: Mapping[str, Any]) -> float | None:
    """The DN scale recorded in a data file's provenance attributes, or None.

    A positive ``normaliser`` / ``normalizer`` / ``max_value`` attribute wins; else a known
    ``sensor`` name gives its ``2**bits - 1``; an unknown name gives None (the next rule applies).
    """
    for key in _ATTR_KEYS:
        value = attrs.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return float(value)
    sensor = attrs.get("sensor")
    if isinstance(sensor, str) and sensor:
        try:
            return float(get_sensor(sensor).max_value)
        except SensorError:
            return None
    return None


def network_normaliser(
    *,
    given: float | None = None,
    card: Any = None,
    attrs: Mapping[str, Any] | None = None,
    sensor: Any = None,
) -> float:
    """The normaliser by the module's rule: ``given`` > ``card.normaliser`` (pass the card of a
    trained model only) > ``attrs`` (:func:`normaliser_from_attrs`) > ``sensor.max_value`` > 2047.

    ``sensor`` is a :class:`~pansharpen.protocol.sensors.Sensor` or a sensor name."""
    if given:
        return float(given)
    if card is not None and getattr(card, "normaliser", None):
        return float(card.normaliser)
    if attrs:
        found = normaliser_from_attrs(attrs)
        if found:
            return found
    if sensor is not None:
        return float(get_sensor(sensor).max_value)
    return DEFAULT_NORMALISER
