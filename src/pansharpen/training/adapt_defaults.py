"""The defaults of full-resolution adaptation (``pansharpen adapt``, ``fuse --adapt``): the loss
weights (:class:`~pansharpen.training.full_resolution.FullResolutionLoss`) and a fresh detail-net's
starting injection (:func:`~pansharpen.training.adapt_full.choose_injection`).

No torch here: the CLI's help shows these values without importing the training code.
"""
from __future__ import annotations

#: default weight of the spectral term
SPECTRAL_WEIGHT = 1.0
#: default weight of the spatial term (chosen on the tuning products of docs/adaptation.md)
SPATIAL_WEIGHT = 1.0
#: default weight of the QNR spatial term (0: it raises HQNR and lowers the ground-truth accuracy)
QNR_WEIGHT = 0.0
#: default weight of the cross-scale (Wald-degraded product) term (0: see docs/adaptation.md)
SCALE_WEIGHT = 0.0

#: starting injections of a fresh detail-net (:func:`~pansharpen.training.adapt_full.choose_injection`), those ``auto`` chooses
#: from (not HPM-H: its haze, estimated on the salient training patches, cost up to 0.04 of
#: ground-truth Q2n on two VHR products' Wald-degraded copies; docs/adaptation.md) and the default
#: (``blend``: auto's choice averaged with a global BDSD, session 11)
INJECTIONS = ("hpm", "hpm-h", "fs", "auto", "blend", "blend-hpm", "blend-hpm-h", "blend-fs")
AUTO_CHOICES = ("hpm", "fs")
INJECTION = "blend"
#: the component-substitution share of a ``blend`` start (the average of an MRA and a CS fusion)
BLEND_WEIGHT = 0.5
#: whether a fresh detail-net ends with the consistency projection (:mod:`pansharpen.protocol.consistency`):
#: on, off, or auto (the better HQNR of the start on training windows)
CONSISTENCY_CHOICES = (True, False, "on", "off", "auto")
CONSISTENT = "auto"
