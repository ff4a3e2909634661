"""Fusion networks, registry, model cards, bundled weights and checkpoint importers.

``create(name, bands=8, **options)``, ``load(path_or_name)``, ``list_models()``, ``save(model, path)``.
As in timm, every architecture registers itself with :func:`~pansharpen.models.registry.register`
when its module is imported; the registry imports them all on its first use. ``import
pansharpen.models`` itself loads only the cards and the weights catalogue (no torch:
:mod:`pansharpen.models.catalogue`); the registry's functions are imported on first access (PEP 562).
"""
from __future__ import annotations

from .cards import ModelCard  # noqa: F401
from .catalogue import bundled_weights, default_choices, read_card  # noqa: F401

#: the registry's functions offered here, imported (with torch) on first access
_REGISTRY_API = ("complete_card", "count_parameters", "create", "list_models", "load", "product_options", "save")


def __getattr__(name: str):
    if name in _REGISTRY_API:
        from . import registry  # network side: imports torch, which the classical path never needs

        return getattr(registry, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
