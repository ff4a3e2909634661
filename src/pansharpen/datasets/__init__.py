"""Building and opening data sets: Wald-protocol training/validation/test sets.

Owns: :mod:`.simulate` (PanCollection-layout sets cut from real products), :mod:`.training_sets`
(opening a set as a torch ``Dataset``, its normalisation and checks against a model) and
:mod:`.hyperspectral` (hyperspectral sets built from the WV3 VNIR+SWIR product).

May import: ``io``, ``protocol``, ``metrics``, ``layers``, ``models``, ``classical``, ``viz``.
"""
