"""Fusing products: a PAN + MS pair in, a fused image on the PAN grid out.

Owns: the fusers that wrap a network or a classical method behind one protocol
(:mod:`.fusers`), tiled scene fusion with halos and nodata (:mod:`.scene`), the public
``fuse`` entry point and its choice of model/method/sensor (:mod:`.fuse`), Dask scale-out
(:mod:`.distributed`), the xarray front end (:mod:`.xarray_api`) and the demo job (:mod:`.demo`).

May import: ``io``, ``protocol``, ``metrics``, ``layers``, ``models``, ``classical``, ``viz``.
"""
