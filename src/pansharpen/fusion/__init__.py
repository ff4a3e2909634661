"""Fusing products: a PAN + MS pair in, a fused image on the PAN grid out.

Owns: the fusers that wrap a classical method (:mod:`.fusers`, with the protocol) or a network
(:mod:`.network_fuser`, imported only when a network is asked for: the classical path loads no
torch) behind one protocol, tiled scene fusion with halos and nodata (:mod:`.scene`), the public
``fuse`` entry point and its choice of model/method/sensor (:mod:`.fuse`), Dask scale-out
(:mod:`.distributed`), the xarray front end (:mod:`.xarray_api`) and the demo job (:mod:`.demo`).

May import: ``io``, ``protocol``, ``metrics``, ``layers``, ``models``, ``classical``, ``viz``.
"""
