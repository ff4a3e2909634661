"""Start-up: the classical path (``import pansharpen``, ``pansharpen fuse --method`` or with the
default choice, ``methods``, ``sensors``) never imports torch, whose import alone takes 1.2-1.4 s (docs/performance.md,
"Start-up"); a network command still gets it. Each case runs in a fresh interpreter, since this
test process has torch loaded already."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from pansharpen.classical.registry import get_method, list_methods
from pansharpen.io.grid import PairGrid
from pansharpen.io.sources import RasterSource

from .robustness.helpers import REPO, make_product

#: run in a child: the CLI's main on ARGV, then which heavy modules were loaded and the exit code
_CHILD = """
import json, sys
from pansharpen.cli import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "torch": "torch" in sys.modules,
                  "registry": "pansharpen.models.registry" in sys.modules}))
"""


def _child(*args: str, code: str = _CHILD) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_importing_the_package_does_not_import_torch():
    got = _child(code="import json, sys, pansharpen\nprint(json.dumps({'torch': 'torch' in sys.modules}))")
    assert got == {"torch": False}


def test_the_package_still_offers_its_network_api_on_first_use():
    got = _child(code="import json, sys, pansharpen\nnames = pansharpen.list_models()\n"
                      "print(json.dumps({'torch': 'torch' in sys.modules, 'lightnet': 'lightnet' in names,"
                      " 'models': pansharpen.models.__name__}))")
    assert got == {"torch": True, "lightnet": True, "models": "pansharpen.models"}


@pytest.mark.parametrize("method", ["brovey", "gsa", "mtf-glp-hpm"])
def test_a_classical_fusion_runs_without_importing_torch(tmp_path, method):
    product = make_product(tmp_path)
    got = _child("fuse", product.pan, product.ms, product.out, "--method", method, "--sensor", "QB", "-q")
    assert got == {"code": 0, "torch": False, "registry": False}
    assert product.out.is_file()


def test_the_default_choice_reads_its_table_without_torch(tmp_path):
    """No --method: the plan reads models/weights/defaults.json and the cards through the catalogue;
    a classical default (every entry today) then runs without torch."""
    product = make_product(tmp_path)
    got = _child("fuse", product.pan, product.ms, product.out, "--sensor", "QB")
    assert got == {"code": 0, "torch": False, "registry": False}


def test_a_grid_with_a_sub_pixel_phase_fuses_without_torch(tmp_path):
    """interp23tap at a nonzero phase on numpy input: the polyphase form runs in numpy."""
    from affine import Affine

    ms_kw = {"transform": Affine(2.0, 0, 1000.0 - 0.25, 0, -2.0, 5000.0 + 0.25)}  # half a PAN pixel up-left
    product = make_product(tmp_path, ms_kw=ms_kw)
    assert PairGrid.from_infos(RasterSource(product.pan).info, RasterSource(product.ms).info).phase == (-0.5, -0.5)
    got = _child("fuse", product.pan, product.ms, product.out, "--method", "gsa", "--sensor", "QB", "-q")
    assert got["code"] == 0 and got["torch"] is False


#: a child that runs the CLI and reports which of scipy's submodules it loaded
_SCIPY_CHILD = """
import json, sys
from pansharpen.cli import main
code = main(sys.argv[1:])
loaded = {m.split(".")[1] for m in sys.modules if m.startswith("scipy.")}
print(json.dumps({"code": code, "scipy": sorted(n for n in loaded if not n.startswith("_") and n != "version")}))
"""

#: a child that estimates and applies one classical method on arrays (no scene fusion, so no preload)
#: and reports which of scipy's submodules that loaded
_METHOD_CHILD = """
import json, sys
import numpy as np
from pansharpen.classical import registry
from pansharpen.protocol.sensors import get_sensor
method = registry.get_method(sys.argv[1])
rng = np.random.default_rng(0)
ms, pan = rng.uniform(100, 900, (4, 32, 32)), rng.uniform(100, 900, (128, 128))
before = {m for m in sys.modules if m.startswith("scipy.")}
params = method.estimate(ms, pan, get_sensor("QB"), 4)
method.apply(ms, pan, params)
loaded = {m.split(".")[1] for m in sys.modules if m.startswith("scipy.") and m not in before}
print(json.dumps({"scipy": sorted(n for n in loaded if not n.startswith("_") and n != "version")}))
"""


def _declared_scipy(method: str) -> set[str]:
    return {name.split(".")[1] for name in get_method(method).imports}


@pytest.mark.parametrize("method", sorted(list_methods()))
def test_a_classical_method_declares_the_scipy_it_loads(method):
    """``ClassicalMethod.imports`` lists exactly the scipy submodules the method loads when it runs (a scene
    fusion preloads them in a thread while it reads its inputs, runtime.preload): EXP, GS, AWLP (its
    a-trous filter bitwise ndimage's), MF, BDSD and the MTF-GLP family load none; the methods with an
    intensity regression or Brovey's fitted weights, scipy.sparse for MATLAB imresize's weights (their least
    squares and NNLS are numpy's: classical._common.r_factor, component_substitution.lawson_hanson)."""
    got = _child(method, code=_METHOD_CHILD)
    assert set(got["scipy"]) == _declared_scipy(method), got["scipy"]


@pytest.mark.parametrize("method", ["exp", "gs", "mtf-glp-fs", "gsa", "pracs"])
def test_a_classical_fusion_loads_only_the_scipy_its_method_declares(tmp_path, method):
    """scipy's submodules load in the functions that use them (0.05-0.2 s each, docs/performance.md
    "Start-up without scipy"); the fuse command loads what the method declares, in a thread, and nothing else."""
    product = make_product(tmp_path)
    got = _child("fuse", product.pan, product.ms, product.out, "--method", method, "--sensor", "QB", "-q",
                 code=_SCIPY_CHILD)
    assert got["code"] == 0 and set(got["scipy"]) == _declared_scipy(method), got["scipy"]


def test_importing_the_package_loads_no_scipy_submodule():
    got = _child(code="import json, sys, pansharpen.cli, pansharpen.fusion\n"
                      "print(json.dumps({'scipy': sorted(m for m in sys.modules if m.startswith('scipy.'))}))")
    assert not [m for m in got["scipy"] if not m.split(".")[1].startswith("_") and m.split(".")[1] != "version"]

@pytest.mark.parametrize("args", [["methods"], ["sensors"], ["fuse", "--help"], ["--help"], [], ["train", "--help"],
                                  ["adapt", "--help"], ["benchmark", "--help"]])
def test_listing_commands_do_not_import_torch(args):
    assert _child(*args)["torch"] is False


def test_a_network_fusion_still_imports_what_it_needs(tmp_path):
    product = make_product(tmp_path)
    got = _child("fuse", product.pan, product.ms, product.out, "--model", "lightnet.vhr-4band", "--sensor", "QB",
                 "-q")
    assert got == {"code": 0, "torch": True, "registry": True}


def test_a_fresh_process_sees_every_architecture_and_importer():
    """The architectures register on the registry's first use, not on ``import pansharpen.models``:
    every way in (the registry, the checkpoint importers) must see all of them."""
    got = _child(code="import json\nfrom pansharpen.models.checkpoints import list_importers\n"
                      "from pansharpen.models.registry import list_models\n"
                      "print(json.dumps({'importers': 'lightnet' in list_importers(), 'models': len(list_models())}))")
    assert got["importers"] is True and got["models"] >= 10
    got = _child(code="import json, pansharpen.models as m\n"
                      "print(json.dumps({'net': type(m.create('lgpconv-net', bands=4)).__name__}))")
    assert got == {"net": "LGPConvNet"}


def test_threads_using_the_registry_first_all_see_every_architecture():
    got = _child(code="import json, threading\nfrom pansharpen.models import registry\nout = []\n"
                      "threads = [threading.Thread(target=lambda: out.append(len(registry.list_models()))) for _ in range(8)]\n"
                      "[t.start() for t in threads]\n[t.join() for t in threads]\nprint(json.dumps({'counts': out}))")
    assert len(set(got["counts"])) == 1 and got["counts"][0] >= 10


def test_import_weights_in_a_fresh_process(tmp_path, checkpoints_dir):
    checkpoint = checkpoints_dir / "spanconv_wv3_weight-760.pth"
    if not checkpoint.is_file():
        pytest.skip(f"{checkpoint} is absent")
    got = _child("import-weights", "lightnet", checkpoint, tmp_path / "w.safetensors")
    assert got["code"] == 0 and (tmp_path / "w.safetensors").is_file()
