"""Where local weights and data are found, and the thread policy."""
import os

import pytest
import torch

from inpaintkit.core.env import find_local, idle_cores, resolve_threads, search_roots, set_threads, where_to_put
from inpaintkit.core.errors import InpaintInputError


def test_search_order_env_then_cache_then_shared_beside_the_working_folder(tmp_path, monkeypatch):
    env, cache, work = tmp_path / "env", tmp_path / "cache", tmp_path / "project" / "checkout"
    for folder in (env / "taesd", cache / "inpaintkit" / "weights" / "taesd", work.parent / "shared" / "weights" / "taesd"):
        folder.mkdir(parents=True)
    monkeypatch.setenv("INPAINTKIT_WEIGHTS", str(env))
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache))
    work.mkdir()
    monkeypatch.chdir(work)
    roots = search_roots("weights")
    assert roots[:3] == [env, cache / "inpaintkit" / "weights", work / "shared" / "weights"]
    assert roots[3] == work.parent / "shared" / "weights"
    assert find_local("weights", "taesd") == env / "taesd"
    monkeypatch.delenv("INPAINTKIT_WEIGHTS")
    assert find_local("weights", "taesd") == cache / "inpaintkit" / "weights" / "taesd"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    assert find_local("weights", "taesd") == work.parent / "shared" / "weights" / "taesd"
    assert "$INPAINTKIT_WEIGHTS/taesd" in where_to_put("weights", "taesd")


def test_threads(monkeypatch):
    assert resolve_threads(None) is None and resolve_threads(3) == 3 and resolve_threads("2") == 2
    assert 1 <= resolve_threads("auto") <= (os.cpu_count() or 1)
    for bad in (0, "zero", "-1"):
        with pytest.raises(InpaintInputError, match="threads"):
            resolve_threads(bad)
    before = torch.get_num_threads()
    try:
        assert set_threads(1) == 1
    finally:
        torch.set_num_threads(before)


def test_idle_cores_sees_a_busy_core():
    """A process spinning on one core leaves one fewer idle core (on machines whose counters are ours)."""
    import multiprocessing

    cores = len(os.sched_getaffinity(0))
    if cores < 2:
        pytest.skip("one core")
    quiet = idle_cores(0.2)
    stop = multiprocessing.Event()
    spinner = multiprocessing.Process(target=_spin, args=(stop,))
    spinner.start()
    try:
        busy = idle_cores(0.3)
    finally:
        stop.set()
        spinner.join()
    assert busy < quiet or quiet < cores  # either it saw the spinner, or the machine was busy already


def _spin(stop):
    while not stop.is_set():
        pass
