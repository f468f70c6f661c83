"""Layers named by module path, as torchvision's feature_extraction names graph nodes, with two
suffixes: `path#K`, the K-th call of a module called more than once per forward pass (the
tutorial CNN's one `pool` used twice), and `path:input`, the first input of a module (read with a
forward pre-hook: the input of the last Linear is what the classifier truly reads, a functional
`F.relu` before it included). Both together: `path#K:input`."""

from __future__ import annotations

import difflib

from torch import nn

from nnvis.errors import NNVisError
from nnvis.models.names import INPUT_LAYER

INPUT_SUFFIX = ":input"
MAX_BLOCKS = 8
# Transformer blocks whose outputs are the default layers (at most MAX_BLOCKS, spread evenly, the last always).
BLOCK_CLASSES = {"EncoderBlock", "Block", "ResPostBlock", "ParallelScalingBlock", "TransformerEncoderLayer",
                 "MaxVitBlock", "SwinTransformerStage"}


def split_layer(layer: str) -> tuple[str, int | None, bool]:
    """(module path, call number or None, whether its input is meant) of a layer name."""
    is_input = layer.endswith(INPUT_SUFFIX)
    name = layer[:-len(INPUT_SUFFIX)] if is_input else layer
    path, sep, call = name.rpartition("#")
    if not sep:
        return name, None, is_input
    if not call.isdigit() or int(call) < 1:
        raise NNVisError(f"layer '{layer}' names call {call!r}; allowed: PATH#K with K = 1, 2, ...")
    return path, int(call), is_input


def list_layers(model: nn.Module) -> list[str]:
    """Every named submodule of `model`, in registration order (forward order for Sequential-like models)."""
    return [name for name, _ in model.named_modules() if name]


ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
               nn.Tanh, nn.Sigmoid, nn.Hardswish, nn.Hardtanh, nn.Softplus)
PASS_THROUGH = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.Flatten, nn.Identity)


def default_layers(model: nn.Module, probe=None) -> list[str]:
    """The hidden layers worth projecting (see default_layer_reasons)."""
    return list(default_layer_reasons(model, probe))


def default_layer_reasons(model: nn.Module, probe=None) -> dict[str, str]:
    """The static defaults (`static_layer_reasons`); with a `probe` input, checked by one
    forward pass: a module called more than once is captured per call (`pool#1`, `pool#2`),
    and the input of the last Linear is read with a pre-hook (`fc2:input`) where the module
    chosen for it is not what that Linear reads (a functional activation between them)."""
    found = static_layer_reasons(model)
    if probe is None or getattr(model, "hidden_layers", None):
        return found
    from nnvis.models.probe import probe_calls

    calls, reads_candidate = probe_calls(model, probe, [split_layer(n)[0] for n in found],
                                         classifier_input(model), last_linear_path(model))
    checked: dict[str, str] = {}
    for name, reason in found.items():
        path, _, is_input = split_layer(name)
        count = calls.get(path, 0)
        if "input of the last Linear" in reason and not is_input and not reads_candidate:
            rest = reason.replace(CLASSIFIER_READS, "").strip("; ")
            if rest:
                checked[name] = rest
            checked[f"{last_linear_path(model)}{INPUT_SUFFIX}"] = (
                f"{CLASSIFIER_READS}, read with a pre-hook: the output of '{path}' is not what it reads (a functional "
                "operation between them)")
        elif count > 1 and not is_input:
            for k in range(1, count + 1):
                checked[f"{path}#{k}"] = f"{reason}; call {k} of {count} (the module is called {count} times per " \
                                         "forward pass)"
        elif count == 0 and not is_input:
            continue  # never called (a ModuleList, an unused part)
        else:
            checked[name] = reason
    return checked


CLASSIFIER_READS = "input of the last Linear (the representation the classifier reads)"


def last_linear_path(model: nn.Module) -> str | None:
    classifier = last_linear(model)
    return next((name for name, m in model.named_modules() if m is classifier), None) if classifier else None


def own_classifier(model: nn.Module) -> str | None:
    """The classifier a timm model names first in its pretrained config (DeiT's `head`, whose
    input is the class token, before `head_dist`, the distillation token's), when a Linear."""
    named = (getattr(model, "pretrained_cfg", None) or {}).get("classifier")
    first = named[0] if isinstance(named, (tuple, list)) and named else named
    modules = dict(model.named_modules())
    return first if isinstance(first, str) and isinstance(modules.get(first), nn.Linear) else None


def spread(names: list[str], most: int = MAX_BLOCKS) -> list[str]:
    """At most `most` of `names`, evenly spread, the last always among them."""
    if len(names) <= most:
        return names
    picks = sorted({round(i * (len(names) - 1) / (most - 1)) for i in range(most)})
    return [names[i] for i in picks]


def transformer_blocks(model: nn.Module) -> list[str]:
    """The paths of the longest run of transformer blocks (a ModuleList or Sequential whose
    children are all of one class of BLOCK_CLASSES), or []."""
    best: list[str] = []
    for path, module in model.named_modules():
        children = list(module.named_children())
        if isinstance(module, (nn.ModuleList, nn.Sequential)) and children and \
                len({type(c) for _, c in children}) == 1 and type(children[0][1]).__name__ in BLOCK_CLASSES:
            names = [f"{path}.{n}" if path else n for n, _ in children]
            best = names if len(names) > len(best) else best
    return best


def static_layer_reasons(model: nn.Module) -> dict[str, str]:
    """{module path: why it is a default layer}. The model's own `hidden_layers` if it names
    them; otherwise the stage outputs of torchvision's ResNet, VGG and AlexNet, or for any
    other model the outputs of its top-level blocks (for a top-level Sequential, the
    activations inside it, else its blocks), never the logits; always with the input of the
    last Linear (the representation the classifier reads), found in registration order."""
    declared = getattr(model, "hidden_layers", None)
    if declared:
        return {name: "declared by the model (hidden_layers)" for name in declared}
    children = dict(model.named_children())
    family = type(model).__name__
    if family == "ResNet" and {"layer1", "layer4", "avgpool", "fc"} <= children.keys():
        found = {f"layer{i}": "ResNet stage output" for i in range(1, 5)}
    elif family in ("VGG", "AlexNet") and {"features", "classifier"} <= children.keys():
        found = {f"features.{n}": f"{family} pooled features" for n, m in children["features"].named_children()
                 if isinstance(m, nn.MaxPool2d)}
        found.update({f"classifier.{n}": f"{family} classifier activation"
                      for n, m in children["classifier"].named_children() if isinstance(m, ACTIVATIONS)})
    elif blocks := transformer_blocks(model):
        found = {name: f"transformer block output ({len(blocks)} blocks, at most {MAX_BLOCKS} shown, the last always)"
                 for name in spread(blocks)}
        head = own_classifier(model) or last_linear_path(model)
        if head:
            found[f"{head}{INPUT_SUFFIX}"] = (f"{CLASSIFIER_READS}, read with a pre-hook: the class token (or pooled "
                                              "tokens) after the final norm")
        return found
    else:
        found = block_outputs(model, last_linear(model))
    penultimate = classifier_input(model)
    if penultimate:
        same = next((name for name in found if last_part(model, name) == penultimate), penultimate)
        found[same] = f"{found[same]}; {CLASSIFIER_READS}" if same in found else CLASSIFIER_READS
    return found


def last_linear(model: nn.Module) -> nn.Module | None:
    """The model's last nn.Linear in registration order (its classifier), or None."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return linears[-1] if linears else None


def block_outputs(model: nn.Module, classifier: nn.Module | None) -> dict[str, str]:
    """Top-level blocks of a plain model, never the classifier nor a block holding it: for a
    Sequential (the model itself or a top-level one) the activations inside it, else its blocks,
    before the classifier."""
    if isinstance(model, nn.Sequential):
        return sequential_outputs(model, "", classifier)
    found: dict[str, str] = {}
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            found.update(sequential_outputs(child, name, classifier))
        elif not any(m is classifier for m in child.modules()) and not isinstance(child, PASS_THROUGH):
            found[name] = "top-level block"
    return found


def sequential_outputs(stack: nn.Sequential, name: str, classifier: nn.Module | None) -> dict[str, str]:
    """The activations among the parts of `stack` (module path `name`) before the classifier,
    or, when it has none, those parts that are not a Dropout, Flatten or Identity."""
    parts = []
    for part_name, part in stack.named_children():
        if any(m is classifier for m in part.modules()):
            break
        parts.append((f"{name}.{part_name}" if name else part_name, part))
    where = f"the top-level Sequential '{name}'" if name else "the model's Sequential"
    activations = {path: f"activation in {where}" for path, part in parts if isinstance(part, ACTIVATIONS)}
    return activations or {path: f"block of {where}" for path, part in parts if not isinstance(part, PASS_THROUGH)}


def classifier_input(model: nn.Module) -> str | None:
    """The module path whose output the last Linear reads: the last module before it (in
    registration order, at its own level or the level above) that is not a Dropout, Flatten
    or Identity, followed down to the last such part of a Sequential."""
    classifier = last_linear(model)
    if classifier is None:
        return None
    path = next(name for name, m in model.named_modules() if m is classifier)
    while path:
        parent_path, _, own = path.rpartition(".")
        parent = get_module(model, parent_path) if parent_path else model
        names = [n for n, _ in parent.named_children()]
        before = [n for n in names[:names.index(own)]
                  if not isinstance(getattr(parent, n), PASS_THROUGH)]
        if before:
            found = f"{parent_path}.{before[-1]}" if parent_path else before[-1]
            return last_part(model, found)
        path = parent_path
    return None


def last_part(model: nn.Module, path: str) -> str:
    """`path`, or for a Sequential its last part that is not a Dropout, Flatten or Identity."""
    module = get_module(model, path)
    while isinstance(module, nn.Sequential):
        parts = [(n, m) for n, m in module.named_children() if not isinstance(m, PASS_THROUGH)]
        if not parts:
            break
        path, module = f"{path}.{parts[-1][0]}", parts[-1][1]
    return path


def resolve_layers(model: nn.Module, requested: str | list[str] | None, probe=None) -> list[str]:
    """Parse `all`, a comma list or a list of module paths, and check each against `model`
    (`all`: the defaults, checked by a forward pass of `probe` when given)."""
    if requested is None or requested == "all":
        return default_layers(model, probe)
    names = requested.split(",") if isinstance(requested, str) else list(requested)
    names = [name.strip() for name in names if name.strip()]
    if not names:
        raise NNVisError("no layers given; pass 'all' or module paths separated by commas")
    valid = list_layers(model)
    for name in names:
        if name != INPUT_LAYER and split_layer(name)[0] not in valid:
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
