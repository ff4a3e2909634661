"""Fusion networks, registry, model cards, bundled weights and checkpoint importers.

``create(name, bands=8, **options)``, ``load(path_or_name)``, ``list_models()``, ``save(model, path)``.
As in timm, importing this package registers every architecture (and its checkpoint importer):
each architecture module calls :func:`~pansharpen.models.registry.register` at import time.
"""
# architecture modules: imported for their registrations (order is the listing order of nothing; names are sorted)
from . import ada3dnet, comparison, detailnet, lgpnet, lightnet  # noqa: F401,E402
from .cards import ModelCard  # noqa: F401
from .registry import (  # noqa: F401
    bundled_weights,
    complete_card,
    count_parameters,
    create,
    list_models,
    load,
    product_options,
    read_card,
    save,
)
