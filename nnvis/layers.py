"""Layers named by module path, as torchvision's feature_extraction names graph nodes."""

from __future__ import annotations

import difflib

from torch import nn

from nnvis.errors import NNVisError

INPUT_LAYER = "input"
"""The pseudo-layer holding the raw pixels of each observation."""


def list_layers(model: nn.Module) -> list[str]:
    """Every named submodule of `model`, in registration order (forward order for Sequential-like models)."""
    return [name for name, _ in model.named_modules() if name]


def default_layers(model: nn.Module) -> list[str]:
    """The hidden layers worth projecting: the model's own `hidden_layers` if it names them,
    otherwise every top-level child but the last (the classifier head)."""
    declared = getattr(model, "hidden_layers", None)
    if declared:
        return list(declared)
    children = [name for name, _ in model.named_children()]
    return children[:-1] if len(children) > 1 else children


def resolve_layers(model: nn.Module, requested: str | list[str] | None) -> list[str]:
    """Parse `all`, a comma list or a list of module paths, and check each against `model`."""
    if requested is None or requested == "all":
        return default_layers(model)
    names = requested.split(",") if isinstance(requested, str) else list(requested)
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise NNVisError("no layers given; pass 'all' or module paths separated by commas")
    valid = list_layers(model)
    for name in names:
        if name != INPUT_LAYER and name not in valid:
            raise NNVisError(unknown_layer_message(name, valid))
    return names


def unknown_layer_message(name: str, valid: list[str]) -> str:
    """The error for an unknown layer: the closest valid module paths, then a hint."""
    close = difflib.get_close_matches(name, valid, n=3, cutoff=0.4)
    hint = f"closest: {', '.join(close)}" if close else f"valid layers start with: {', '.join(valid[:8])}"
    return f"unknown layer '{name}'; {hint} (list them all with `nnvis layers`)"


def get_module(model: nn.Module, name: str) -> nn.Module:
    """The submodule at module path `name`, or NNVisError naming the closest ones."""
    modules = dict(model.named_modules())
    if name not in modules or not name:
        raise NNVisError(unknown_layer_message(name, list_layers(model)))
    return modules[name]
