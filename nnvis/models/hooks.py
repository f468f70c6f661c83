"""The two ways every analysis reaches into a model: run it in eval mode and give back each
submodule's train/eval flag as it was, and read or replace named layers' outputs through
forward hooks that are always removed afterwards.

A model object may be shared by the threads of a process (nnvis.workspace.model_cache): the
eval-mode block holds the model's own re-entrant lock, so that one analysis at a time moves it,
switches its modes and hooks it (hooks on a shared module would fire in every thread's forward).
Hooks are registered inside that block."""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any, Callable, Iterator

import torch
from torch import nn

from nnvis.errors import NNVisError
from nnvis.models.layers import get_module, split_layer

OutputHook = Callable[[Any], Any]
_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def model_lock(module: nn.Module) -> threading.RLock:
    """The re-entrant lock of one model object (made on first use, dropped with the model)."""
    with _LOCKS_LOCK:
        lock = _LOCKS.get(module)
        if lock is None:
            lock = _LOCKS[module] = threading.RLock()
        return lock


@contextlib.contextmanager
def eval_mode(module: nn.Module, device: str | torch.device | None = None) -> Iterator[nn.Module]:
    """`module` switched to eval mode (and moved to `device` when given) for the block; on exit,
    whatever happens, every submodule gets back its own training flag (a dropout kept in eval
    inside a model in training stays in eval). Holds the model's lock (`model_lock`) throughout."""
    with model_lock(module):
        flags = [(part, part.training) for part in module.modules()]
        try:
            module.eval()
            if device is not None:
                module.to(device)
            yield module
        finally:
            for part, training in flags:
                part.training = training


def _hook(fn: OutputHook) -> Callable:
    def hook(_module, _inputs, output):
        return fn(output)
    return hook


def _pre_hook(fn: OutputHook, replaces: bool = False) -> Callable:
    def pre_hook(_module, args):
        replaced = fn(args[0])
        return (replaced, *args[1:]) if replaces and replaced is not None else None
    return pre_hook


SCRIPTED = ("nnvis cannot see inside a TorchScript model: PyTorch runs no forward hooks on a ScriptModule, so its "
            "hidden layers cannot be captured. Give nnvis the Python model instead: --model package.module:function "
            "(or a torchvision name) with --weights FILE, a state_dict; `torch.save(torch.jit.load(PATH).state_dict(), "
            "FILE)` writes one from the TorchScript file")


def check_inspectable(module: nn.Module) -> None:
    """NNVisError when `module` is TorchScript, whose layers no forward hook can see."""
    if isinstance(module, torch.jit.ScriptModule):
        raise NNVisError(SCRIPTED)


@contextlib.contextmanager
def forward_hooks(module: nn.Module, hooks: dict[str, OutputHook], *, inputs: bool = False,
                  strict: bool = False) -> Iterator[nn.Module]:
    """`module` with a forward hook on each named layer `{name: fn(output)}` for the block: `fn`
    sees the layer's output (its first positional input when `inputs` or when the name ends in
    `:input`: a pre-hook) and may return a tensor that replaces the output (or, for a name
    ending in `:input`, the input: a unit of `fc2:input` can be ablated; with `inputs` a
    pre-hook's return value is ignored). A name `path#K` sees only the K-th call of its module in each forward
    pass; a plain name sees every call, or with `strict` raises NNVisError at a second call
    (the module is called more than once: name one call). Unknown paths raise NNVisError before
    any hook is registered; the hooks are removed on exit, whatever happens."""
    if hooks:
        check_inspectable(module)
    specs = {name: split_layer(name) for name in hooks}
    targets = {name: get_module(module, spec[0]) for name, spec in specs.items()}
    calls: dict[str, int] = {}
    handles = []
    try:
        if any(spec[1] is not None or strict for spec in specs.values()):
            handles.append(module.register_forward_pre_hook(lambda *_: calls.clear()))
        for name, fn in hooks.items():
            path, call, is_input = specs[name]
            counted = _counted(name, path, call, strict, calls, fn)
            if inputs or is_input:
                handles.append(targets[name].register_forward_pre_hook(_pre_hook(counted, replaces=is_input)))
            else:
                handles.append(targets[name].register_forward_hook(_hook(counted)))
        yield module
    finally:
        for handle in handles:
            handle.remove()


def _counted(name: str, path: str, call: int | None, strict: bool, calls: dict[str, int], fn: OutputHook) -> OutputHook:
    def on_call(value):
        seen = calls[name] = calls.get(name, 0) + 1
        if call is not None and seen != call:
            return None
        if strict and call is None and seen > 1:
            raise NNVisError(f"layer '{name}' is called more than once in one forward pass; name one call: "
                             f"{path}#1, {path}#2, ... (`nnvis layers` lists them)")
        return fn(value)
    return on_call


def first_tensor(output: Any) -> Any:
    """A layer's output, or its first element when the layer returns a tuple or list."""
    return output[0] if isinstance(output, (tuple, list)) else output


@contextlib.contextmanager
def collected_outputs(module: nn.Module, layers: list[str]) -> Iterator[dict[str, list[torch.Tensor]]]:
    """A dict filled, while the block runs forwards, with every output of each named layer
    (first tensor of a tuple, detached copies), in call order; the hooks are removed on exit."""
    seen: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    hooks = {name: (lambda out, name=name: seen[name].append(first_tensor(out).detach().clone()))
             for name in layers}
    with forward_hooks(module, hooks):
        yield seen
