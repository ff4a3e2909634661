"""Fusion networks, registry, model cards, bundled weights and checkpoint importers.

``create(name, bands=8, **options)``, ``load(path_or_name)``, ``list_models()``, ``save(model, path)``.
"""
from .cards import ModelCard  # noqa: F401
from .registry import bundled_weights, complete_card, count_parameters, create, list_models, load, read_card, save  # noqa: F401
