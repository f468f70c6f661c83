"""Loaded models kept per process: a bounded LRU keyed by what the model is (the workspace, the
epoch's weights hash, its preprocessing), so that a request that needs the model of an epoch
builds it once per worker instead of once per request. Never shared across processes: a
forked child finds the cache empty (CUDA tensors do not survive a fork). Analyses of one model
object in two threads take turns (nnvis.models.hooks.eval_mode holds the model's lock).

A model its user changed in place (fine-tuned, weights loaded into it) is not handed out again:
each parameter's version counter, which every in-place change bumps and a move to another
device keeps, is compared with the one it had when cached, and a changed model is rebuilt."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Hashable

from torch import nn

from nnvis.models.zoo import LoadedModel

MODEL_CACHE_SIZE = 8
"""How many loaded models one process keeps (the least recently used one goes first)."""


def fingerprint(module: nn.Module) -> tuple:
    """Which parameter objects the model holds and how often each was changed in place."""
    return tuple((id(parameter), parameter._version) for parameter in module.parameters())


class ModelCache:
    """A bounded, thread-safe LRU of loaded models for the process that filled it."""

    def __init__(self, size: int = MODEL_CACHE_SIZE):
        self.size = size
        self.models: OrderedDict[Hashable, tuple[LoadedModel, tuple]] = OrderedDict()
        self.lock = threading.Lock()
        self.pid = os.getpid()
        self.builds = 0

    def get(self, key: Hashable, build: Callable[[], LoadedModel]) -> LoadedModel:
        """The model cached under `key`, or `build()` it, keep it and return it."""
        with self.lock:
            if self.pid != os.getpid():  # inherited through fork: the parent's models stay the parent's
                self.models.clear()
                self.pid = os.getpid()
            if key in self.models:
                model, kept = self.models[key]
                if fingerprint(model.module) == kept:
                    self.models.move_to_end(key)
                    return model
                del self.models[key]  # changed in place since it was cached
            model = build()  # under the lock: two threads never build the same model twice
            self.builds += 1
            self.models[key] = model, fingerprint(model.module)
            while len(self.models) > self.size:
                self.models.popitem(last=False)
            return model

    def clear(self) -> None:
        with self.lock:
            self.models.clear()


MODELS = ModelCache()


def model_key(workspace: Path, weights: str, spec: str, preprocess: Hashable) -> tuple:
    """The cache key of a workspace's model: its resolved folder, the epoch's weights hash, the
    model spec and the preprocessing (a checkpoint series can keep its weights and change its
    preprocessing)."""
    return str(Path(workspace).resolve()), weights, spec, preprocess
