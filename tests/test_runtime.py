"""retain_freed_memory: freed activations are reused instead of page-faulted in again."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

CHILD = r"""
import json, resource, torch
import torch.nn.functional as F
from pansharpen.runtime import retain_freed_memory
tuned = retain_freed_memory()
again = retain_freed_memory()
torch.set_num_threads(1)
weight = torch.randn(32, 32, 3, 3) * 0.05

def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt

def forward(x):  # the allocation pattern of a small residual network: 13 MB activations
    for _ in range(4):
        x = torch.relu(F.conv2d(x, weight, padding=1)) + x
    return x

x = torch.rand(1, 32, 320, 320)
with torch.no_grad():
    forward(x)
    before = faults()
    for _ in range(3):
        forward(x)
print(json.dumps({"tuned": tuned, "again": again, "faults_per_forward": (faults() - before) / 3}))
"""


def _run(env_value: str | None) -> dict:
    env = dict(os.environ)
    env.pop("PANSHARPEN_MALLOPT", None)
    if env_value is not None:
        env["PANSHARPEN_MALLOPT"] = env_value
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt tuning is glibc-only")
def test_freed_blocks_are_reused_without_page_faults():
    tuned = _run(None)
    plain = _run("0")
    assert tuned["tuned"] is True and tuned["again"] is True
    assert plain["tuned"] is False
    # untuned, freed activations go back to the kernel and every forward faults them in again
    # (about 22,000 pages here); tuned, the heap keeps them (about 1,000)
    assert plain["faults_per_forward"] > 5000
    assert tuned["faults_per_forward"] < plain["faults_per_forward"] / 5


LIBRARY_CHILD = r"""
import json, numpy as np, torch
import pansharpen, pansharpen.runtime as runtime
from pansharpen import models
from pansharpen.fusion.fusers import NetworkFuser
from pansharpen.fusion.scene import fuse_arrays
net = models.create("lightnet", bands=4)
fuser = NetworkFuser(net)
fuse_arrays(np.random.rand(1, 64, 64) * 2047, np.random.rand(4, 16, 16) * 2047, fuser, tile=32)
print(json.dumps({"touched": runtime._done is not None}))
"""


@pytest.mark.slow
def test_the_library_never_tunes_the_allocator_by_itself():
    """Importing pansharpen and fusing through the library leaves glibc alone (the CLI opts in)."""
    out = subprocess.run([sys.executable, "-c", LIBRARY_CHILD], capture_output=True, text=True, check=True, timeout=120)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"touched": False}
