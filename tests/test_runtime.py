"""retain_freed_memory: freed activations are reused instead of page-faulted in again; ordered_map and
compute_threads: pooled items in order, bounded, without nesting."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import threading
import time

import pytest

from pansharpen.runtime import ordered_map, preload, thread_budget

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
from pansharpen.fusion.network_fuser import NetworkFuser
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


def test_ordered_map_keeps_order_bounds_what_is_in_flight_and_uses_the_threads():
    lock, state = threading.Lock(), {"running": 0, "most": 0, "drawn": 0, "done": 0, "ahead": 0}
    names = set()

    def items():
        for i in range(30):
            with lock:
                state["drawn"] += 1
                state["ahead"] = max(state["ahead"], state["drawn"] - state["done"])
            yield i

    def work(i):
        with lock:
            state["running"] += 1
            state["most"] = max(state["most"], state["running"])
        names.add(threading.current_thread().name)
        time.sleep(0.003 * (i % 3))  # out-of-order finishing
        with lock:
            state["running"] -= 1
        return i * i

    for threads in (1, 3):
        state.update(running=0, most=0, drawn=0, done=0, ahead=0)
        got = []
        for value in ordered_map(items(), work, threads):
            got.append(value)
            state["done"] += 1
        assert got == [i * i for i in range(30)]
        assert state["most"] <= threads and state["ahead"] <= threads + 1
    assert threading.main_thread().name not in names and len(names) > 1


def test_ordered_map_raises_at_the_failing_item_and_closing_stops_the_pool():
    def work(i):
        if i == 5:
            raise ValueError("item 5")
        return i

    got = []
    with pytest.raises(ValueError, match="item 5"):
        for value in ordered_map(range(20), work, 2):
            got.append(value)
    assert got == [0, 1, 2, 3, 4]
    started = threading.active_count()
    gen = ordered_map(range(10**6), lambda i: i, 2)
    assert next(gen) == 0
    gen.close()
    assert threading.active_count() == started



def test_compute_threads_is_local_to_the_context_and_pool_threads_start_at_one():
    from pansharpen.runtime import compute_threads, current_threads

    assert current_threads() == 1
    with compute_threads(3):
        assert current_threads() == 3
        assert list(ordered_map(range(4), lambda i: current_threads(), 2)) == [1] * 4
    assert current_threads() == 1


def test_interp23tap_bands_in_threads_are_bitwise_serial():
    import numpy as np

    from pansharpen.protocol.interp import interp23tap
    from pansharpen.runtime import compute_threads

    x = np.random.default_rng(4).uniform(0, 2047, (2, 5, 13, 11))
    serial = interp23tap(x, 4)
    with compute_threads(3):
        np.testing.assert_array_equal(interp23tap(x, 4), serial)


ARENA_CHILD = r"""
import ctypes, ctypes.util, json, sys, threading
import numpy as np
from pansharpen.runtime import retain_freed_memory
assert retain_freed_memory()
if sys.argv[1] == "uncapped":  # undo the arena cap before any thread allocates
    ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt(-8, 8)

def hwm_mb():
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024

def work():  # a tile's worth of 8 MB float64 temporaries, all freed at the end
    arrays = [np.ones(1 << 20) for _ in range(12)]
    del arrays

first_done, second_done = threading.Event(), threading.Event()

def first():
    work(); first_done.set(); second_done.wait()  # alive while the second works (keeps its arena)

def second():
    first_done.wait(); work(); second_done.set()

start = hwm_mb()
threads = [threading.Thread(target=first), threading.Thread(target=second)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"growth_mb": hwm_mb() - start}))
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt tuning is glibc-only")
def test_threads_share_the_retained_heap():
    """With the retained heap, a thread's freed memory is reused by the next thread only if they
    share an arena: one arena keeps the growth at one thread's working set (96 MB), one arena per
    thread doubles it (what raised MTF-GLP's peak with two tile threads)."""
    growth = {}
    for case in ("capped", "uncapped"):
        out = subprocess.run([sys.executable, "-c", ARENA_CHILD, case], capture_output=True, text=True, check=True)
        growth[case] = json.loads(out.stdout.strip().splitlines()[-1])["growth_mb"]
    assert growth["capped"] < 130, growth
    assert growth["uncapped"] > 170, growth  # the check can fail: without the cap the heaps add up


HUGEPAGE_CHILD = r"""
import sys
from pansharpen.runtime import retain_freed_memory
try:
    from numpy._core.multiarray import _set_madvise_hugepage
except ImportError:
    from numpy.core.multiarray import _set_madvise_hugepage
retain_freed_memory()
print(int(_set_madvise_hugepage(True)))  # returns the setting it replaces
"""


@pytest.mark.parametrize("env,want", [({}, 0), ({"PANSHARPEN_HUGEPAGES": "1"}, 1), ({"NUMPY_MADVISE_HUGEPAGE": "1"}, 1),
                                      ({"PANSHARPEN_MALLOPT": "0"}, 1)])
@pytest.mark.skipif(sys.platform != "linux", reason="numpy asks for huge pages on Linux only")
def test_the_cli_tuning_stops_numpys_huge_page_requests_unless_told(env, want):
    """retain_freed_memory() (the CLI's tuning) turns numpy's madvise(MADV_HUGEPAGE) off; either
    variable keeps numpy's choice (on, on Linux), and PANSHARPEN_MALLOPT=0 leaves everything alone."""
    base = {k: v for k, v in os.environ.items() if k not in ("PANSHARPEN_HUGEPAGES", "NUMPY_MADVISE_HUGEPAGE",
                                                           "PANSHARPEN_MALLOPT")}
    out = subprocess.run([sys.executable, "-c", HUGEPAGE_CHILD], capture_output=True, text=True, check=True,
                         env={**base, **env})
    assert int(out.stdout.strip().splitlines()[-1]) == want


def test_thread_budget_is_torchs_setting_when_loaded_else_the_environment_or_the_cpus(monkeypatch):
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        assert thread_budget() == 3  # the CLI's --threads, a library caller's set_num_threads
    finally:
        torch.set_num_threads(before)
    monkeypatch.delitem(sys.modules, "torch")  # as in a classical command, which never imports torch
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert thread_budget() == 5
    for value in ("", "zero", "0"):
        monkeypatch.setenv("OMP_NUM_THREADS", value)
        assert thread_budget() == len(os.sched_getaffinity(0))


def test_preload_imports_in_a_thread_once_and_leaves_failures_to_the_later_import():
    """runtime.preload: the missing modules load in a background thread; loaded ones start nothing;
    a module that cannot be imported is skipped there (the caller's own import raises it)."""
    assert preload(["json", "os"]) is None  # loaded already
    name = "pansharpen_preload_probe_module"
    sys.modules.pop("wave", None)
    thread = preload(["wave", name])
    assert thread is not None and thread.name == "pansharpen-preload"
    thread.join(timeout=30)
    assert "wave" in sys.modules and name not in sys.modules
