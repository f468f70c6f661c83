"""The per-process model cache (nnvis.workspace.model_cache) and capturing an epoch under the
store's lock: the same model object for the same workspace and weights, a new one when the
snapshot or the model changed, and two processes asking for one epoch capture it once."""

import multiprocessing
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from nnvis.models.hooks import eval_mode
from nnvis.models.zoo import LoadedModel, weights_hash
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.model_cache import MODELS, ModelCache
from nnvis.workspace.workspace import Workspace
from tests.conftest import copy_workspace
from tests.tiny_models import TwoByTwo


@pytest.fixture
def workspace_copy(digits_workspace, tmp_path) -> Workspace:
    return Workspace(copy_workspace(digits_workspace.path, tmp_path / "digits"))


def test_the_same_model_object_serves_every_analysis_of_a_workspace_epoch(workspace_copy):
    builds = MODELS.builds
    first = Analysis(workspace_copy).model(1)
    assert Analysis(Workspace(workspace_copy.path / ".." / "digits")).model(1) is first  # the same folder
    assert Analysis(workspace_copy).model(1) is first and MODELS.builds == builds + 1
    assert Analysis(workspace_copy).model(2) is not first
    assert weights_hash(first.module) == Analysis(workspace_copy).weights(1)


def test_a_new_snapshot_of_the_epoch_gives_a_new_model(workspace_copy):
    old = Analysis(workspace_copy).model(1)
    changed = Analysis(workspace_copy).build_model(1).module
    with torch.no_grad():
        for parameter in changed.parameters():
            parameter.mul_(0.5)
    workspace_copy.save_snapshot(1, changed)
    manifest = workspace_copy.manifest()
    manifest["weights"]["1"] = weights_hash(changed)
    workspace_copy.write_manifest(manifest)
    new = Analysis(workspace_copy).model(1)
    assert new is not old and weights_hash(new.module) == weights_hash(changed) != weights_hash(old.module)
    assert Analysis(workspace_copy).model(1) is new


def test_a_model_changed_in_place_by_its_user_is_rebuilt_from_its_snapshot(workspace_copy):
    analysis = Analysis(workspace_copy)
    tuned = analysis.model(1)
    assert analysis.model(1) is tuned  # one Analysis keeps its model, changed or not
    with torch.no_grad():
        next(tuned.module.parameters()).add_(1.0)  # fine-tuned in place, as a test of compare does
    fresh = Analysis(workspace_copy).model(1)
    assert fresh is not tuned and weights_hash(fresh.module) == analysis.weights(1)
    moved = fresh.module.to(torch.float64).to(torch.float32)  # a move keeps the weights: still served
    assert Analysis(workspace_copy).model(1).module is moved


def test_the_cache_keeps_the_most_recently_used_and_forgets_after_a_fork():
    cache, built = ModelCache(size=2), []

    def build(name):
        built.append(name)
        return LoadedModel(TwoByTwo(), name, 1)
    a = cache.get("a", lambda: build("a"))
    cache.get("b", lambda: build("b"))
    assert cache.get("a", lambda: build("a")) is a  # a is now the most recent: b goes next
    cache.get("c", lambda: build("c"))
    assert list(cache.models) == ["a", "c"]
    cache.get("b", lambda: build("b"))
    assert built == ["a", "b", "c", "b"]
    cache.pid = -1  # as a forked child sees the parent's cache
    assert cache.get("c", lambda: build("c")) is not None and built[-1] == "c" and list(cache.models) == ["c"]


def test_two_threads_take_turns_with_one_model():
    module, order = TwoByTwo(), []
    inside = threading.Event()

    def first():
        with eval_mode(module):
            order.append("first in")
            inside.set()
            time.sleep(0.3)
            order.append("first out")

    thread = threading.Thread(target=first)
    thread.start()
    inside.wait(5)
    with eval_mode(module):
        order.append("second in")
    thread.join()
    assert order == ["first in", "first out", "second in"]


def capture_in_a_worker(path: str, layer: str, marker: str, barrier, results) -> None:
    """A worker process: count the forward passes in `marker`, then read the epoch's activations."""
    import nnvis.workspace.analysis as analysis_module

    real = analysis_module.capture

    def counted(*args, **kwargs):
        with open(marker, "a") as handle:
            handle.write("capture\n")
        time.sleep(1.0)  # a wide window: without the lock the other worker captures too
        return real(*args, **kwargs)

    analysis_module.capture = counted
    analysis = analysis_module.Analysis(Workspace(path))
    barrier.wait(timeout=120)
    results.put(float(analysis.activations(layer, 1).astype(np.float64).sum()))


def test_two_processes_capture_one_epoch_once(workspace_copy, tmp_path):
    analysis = Analysis(workspace_copy)
    layer = analysis.layers[0]
    expected = float(analysis.activations(layer, 1).astype(np.float64).sum())
    for key in [keys.activations(analysis, name, 1) for name in analysis.layers] + [keys.probabilities(analysis, 1)]:
        assert analysis.store.cache.delete(key.digest())
    analysis.store.close()
    context = multiprocessing.get_context("spawn")
    barrier, results, marker = context.Barrier(2), context.Queue(), tmp_path / "captures.txt"
    workers = [context.Process(target=capture_in_a_worker, args=(str(workspace_copy.path), layer, str(marker),
                                                                  barrier, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    found = [results.get(timeout=300) for _ in workers]
    for worker in workers:
        worker.join(60)
    assert [worker.exitcode for worker in workers] == [0, 0]
    assert Path(marker).read_text().splitlines() == ["capture"]  # the second worker read what the first stored
    assert found == [expected, expected]
