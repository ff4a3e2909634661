"""torchrun data parallel (gloo, CPU): 2 processes == 1 process with the same global batch.

The worker script is written into the test's temp folder and launched with
``python -m torch.distributed.run --standalone --nproc-per-node 2``; the one-process run uses
the same script without torchrun, so both go through exactly the same code.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from pansharpen.io.pancollection import write_pancollection

MODEL = textwrap.dedent(
    """
    import torch
    from torch import nn
    from pansharpen.models import registry
    from pansharpen.models.base import FusionModel

    class TinyNet(FusionModel):
        def __init__(self, bands=4):
            super().__init__()
            self.bands = bands
            self.conv = nn.Conv2d(bands + 1, bands, 3, padding=1)

        def fuse(self, ms, pan, lms):
            return lms + self.conv(torch.cat([lms, pan], 1))

    if "tiny-ddp-test" not in registry.list_models():
        registry.register("tiny-ddp-test", paper="test stand-in")(lambda bands=4, **kw: TinyNet(bands))
    """
)
RUN = textwrap.dedent(
    """
    import os
    import sys
    from pansharpen.training.train import train

    torch.set_num_threads(1)
    r = train("tiny-ddp-test", sys.argv[1], out=sys.argv[2], **OPTIONS)
    print(f"rank-done {r.steps} {r.out is not None}", flush=True)  # one write: the ranks finish together
    # skip the interpreter's teardown: twice in CI (full suite, 2-core machine, session 8) rank 1 aborted
    # with "terminate called without an active exception" (a C++ thread destroyed while joinable), not
    # reproduced in 80 runs alone; the subject here is the training, which train() has finished
    os._exit(0)
    """
)
OPTIONS = dict(preset="lightnet", epochs=3, batch_size=4, seed=5, quiet=True)


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    return env


def _state(path):
    from safetensors.torch import load_file

    return load_file(str(path))


@pytest.mark.slow
def test_two_processes_match_one_process(tmp_path):
    rng = np.random.default_rng(0)
    n = 12
    gt = rng.uniform(100, 1500, (n, 4, 16, 16))
    ms = gt.reshape(n, 4, 4, 4, 4, 4).mean(axis=(3, 5))
    data = tmp_path / "set.h5"
    write_pancollection(data, {"gt": gt, "ms": ms, "lms": np.repeat(np.repeat(ms, 4, 2), 4, 3),
                               "pan": gt.mean(1, keepdims=True)})
    script = tmp_path / "worker.py"
    script.write_text(MODEL + f"OPTIONS = {OPTIONS!r}\n" + RUN)
    exec(MODEL, {})  # the same model, registered in this process for the one-process run
    from pansharpen.training.train import train

    train("tiny-ddp-test", data, out=tmp_path / "one.safetensors", **OPTIONS)
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), str(data), str(tmp_path / "two.safetensors")],
        env=_env(), capture_output=True, text=True, timeout=120,
    )
    assert two.returncode == 0, f"stdout: {two.stdout[-500:]!r}\nstderr: {two.stderr[-3000:]}"
    assert two.stdout.count("rank-done 9") == 2  # both processes made 3 epochs x 3 steps
    assert two.stdout.count("rank-done 9 True") == 1  # only rank 0 wrote the weights
    a, b = _state(tmp_path / "one.safetensors"), _state(tmp_path / "two.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    from pansharpen.models import read_card

    assert read_card(tmp_path / "two.safetensors").training["processes"] == 2
