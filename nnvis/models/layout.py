"""A layer's layout, decided in one place (STYLE habit 17): how one output tensor becomes units
and observations. Every view that reduces or reshapes a layer's output asks here.

    channels-first   (N, C, H, W...)  units: C, reduced by their spatial mean (Shang's alpha)
    channels-last    (N, H, W, C)     units: C (Swin stages, the inside of ConvNeXt blocks)
    tokens           (N, T, D)        units: D; the first P tokens are prefix tokens (class,
                                      distillation, register tokens), the rest a patch grid
    sequence-first   (T, N, D)        as tokens, for nn.MultiheadAttention / nn.Transformer*
                                      built with batch_first=False
    vector           (N, D)

The layout comes from the module and the model (torchvision's and timm's classes, timm's
`output_fmt` and `num_prefix_tokens`, class-token attributes, torchvision's Permute, the
Linear / LayerNorm that acts on the last axis), never from sizes alone. Where it cannot be
known the layer is refused with one line naming `--layout`.

Which tokens stand for an image (`--tokens`): `cls` the class token (with a distillation token,
the mean of the two), `mean` the mean of the patch tokens (prefix tokens never averaged in),
`patches` every patch token is an observation (see `patch_rows`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from nnvis.errors import NNVisError
from nnvis.models.layers import ACTIVATIONS, PASS_THROUGH, get_module, split_layer

CHANNELS_FIRST, CHANNELS_LAST, TOKENS, SEQUENCE_FIRST, VECTOR = (
    "channels-first", "channels-last", "tokens", "sequence-first", "vector")
KINDS = (CHANNELS_FIRST, CHANNELS_LAST, TOKENS, SEQUENCE_FIRST, VECTOR)
TOKEN_CHOICES = ("cls", "mean", "patches")
TOKEN_KINDS = (TOKENS, SEQUENCE_FIRST)

# Classes whose output layout is fixed whatever their children (found by class name, so that
# timm need not be imported): channels-first blocks that permute inside, channels-last blocks.
CF_CLASSES = {"CNBlock", "ConvNeXtBlock", "ConvNeXtStage", "MBConv", "MaxVitBlock", "MaxVitLayer",
              "PartitionAttentionLayer", "WindowDepartition", "LayerNorm2d", "GroupNorm", "BasicBlock", "Bottleneck"}
CL_CLASSES = {"SwinTransformerBlock", "SwinTransformerBlockV2", "ShiftedWindowAttention", "ShiftedWindowAttentionV2",
              "PatchMerging", "PatchMergingV2", "SwinTransformerStage"}
# Inside these, a tensor's first axis is not the image (windows, grid partitions): no layout.
WINDOWED = {"WindowAttention", "WindowPartition", "SwapAxes"}
WINDOWED_INSIDE = {"PartitionAttentionLayer"}
ELEMENTWISE = ACTIVATIONS + PASS_THROUGH
CF_MODULES = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.modules.batchnorm._BatchNorm, nn.MaxPool2d, nn.AvgPool2d,
              nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.GroupNorm, nn.InstanceNorm2d, nn.LocalResponseNorm)


@dataclass(frozen=True)
class Layout:
    """One layer's layout: its kind, and for tokens the number of prefix tokens (`distilled`:
    the second is a distillation token, averaged with the class token for `cls`)."""

    kind: str
    prefix: int = 0
    distilled: bool = False

    def __str__(self) -> str:
        return f"{self.kind}:{self.prefix}" if self.kind in TOKEN_KINDS else self.kind

    @property
    def is_tokens(self) -> bool:
        return self.kind in TOKEN_KINDS

    def batch_first(self, output: torch.Tensor) -> torch.Tensor:
        """`output` with the observations on axis 0."""
        return output.transpose(0, 1) if self.kind == SEQUENCE_FIRST else output

    def units(self, output: torch.Tensor, tokens: str | None = None) -> torch.Tensor:
        """One row per image, one column per unit (float32): a map's spatial mean, the chosen
        tokens of a sequence (`tokens` cls or mean; default cls when there is a prefix)."""
        output = self.batch_first(output.detach())
        if self.kind == VECTOR or output.ndim <= 2:
            return output.reshape(output.shape[0], -1).float()
        if self.kind == CHANNELS_FIRST:
            return output.flatten(2).mean(dim=2, dtype=torch.float32)
        if self.kind == CHANNELS_LAST:
            return output.flatten(1, -2).mean(dim=1, dtype=torch.float32)
        tokens = tokens or ("cls" if self.prefix else "mean")
        if tokens == "cls":
            if not self.prefix:
                raise NNVisError("--tokens cls needs a class token, and this model has none; allowed: --tokens mean "
                                 "or patches")
            return output[:, :2].mean(dim=1, dtype=torch.float32) if self.distilled else output[:, 0].float()
        if tokens == "mean":
            return output[:, self.prefix:].mean(dim=1, dtype=torch.float32)
        raise NNVisError(f"--tokens {tokens!r} gives no one row per image here; allowed: cls, mean")

    def patches(self, output: torch.Tensor) -> torch.Tensor:
        """The patch tokens (N, T-P, D) of a token layer."""
        return self.batch_first(output)[:, self.prefix:]

    def maps(self, output: torch.Tensor, image_hw: tuple[int, int]) -> torch.Tensor | None:
        """The output as channels-first maps (N, C, h, w), or None for a vector: a token
        layer's patch tokens on their patch grid (`image_hw` gives its aspect)."""
        if self.kind == VECTOR or output.ndim <= 2:
            return None
        if self.kind == CHANNELS_FIRST:
            return output if output.ndim == 4 else None
        if self.kind == CHANNELS_LAST:
            return output.permute(0, 3, 1, 2) if output.ndim == 4 else None
        patches = self.patches(output)
        h, w = patch_grid(patches.shape[1], image_hw)
        return patches.transpose(1, 2).reshape(patches.shape[0], patches.shape[2], h, w)


VECTOR_LAYOUT = Layout(VECTOR)


def patch_grid(count: int, image_hw: tuple[int, int]) -> tuple[int, int]:
    """The (rows, columns) of `count` patch tokens of an image of `image_hw`."""
    rows = max(1, round(math.sqrt(count * image_hw[0] / image_hw[1])))
    if count % rows:
        raise NNVisError(f"{count} patch tokens do not form a grid for {image_hw[0]}x{image_hw[1]} images")
    return rows, count // rows


def token_prefix(model: nn.Module) -> tuple[int, bool]:
    """(prefix tokens, whether the second is a distillation token) of `model`: timm's
    `num_prefix_tokens`, torchvision's `class_token`, or `cls_token` / `dist_token` attributes."""
    distilled = isinstance(getattr(model, "dist_token", None), torch.Tensor)
    if isinstance(getattr(model, "num_prefix_tokens", None), int) and not isinstance(model.num_prefix_tokens, bool):
        return model.num_prefix_tokens, distilled
    prefix = sum(isinstance(getattr(model, name, None), torch.Tensor) for name in ("class_token", "cls_token"))
    return prefix + distilled, distilled


def chain(model: nn.Module, path: str) -> list[tuple[str, nn.Module]]:
    """(path, module) from the model down to `path`."""
    found, parts = [("", model)], path.split(".") if path else []
    for i in range(len(parts)):
        sub = ".".join(parts[:i + 1])
        found.append((sub, get_module(model, sub)))
    return found


def parse_layouts(text: str | None) -> dict[str, Layout]:
    """`--layout`: `KIND` for every layer the model does not say, or `LAYER=KIND,...`; KIND one of
    channels-first, channels-last, tokens, tokens:P (P prefix tokens), sequence-first, vector."""
    found: dict[str, Layout] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        layer, _, kind = item.rpartition("=")
        name, _, prefix = kind.partition(":") if kind.startswith(TOKEN_KINDS) else (kind, "", "")
        if name not in KINDS or (prefix and not prefix.isdigit()):
            raise NNVisError(f"--layout {item!r} is invalid; allowed: KIND or LAYER=KIND, KIND one of "
                             f"{', '.join(KINDS)} (tokens:P for P prefix tokens)")
        found[layer or "*"] = Layout(name, int(prefix or 0))
    return found


def layout_of(model: nn.Module, layer: str, ndim: int, given: dict[str, Layout] | None = None) -> Layout:
    """The layout of `layer`'s output (of `ndim` axes) in `model`; `given` from `--layout`
    overrides. NNVisError naming `--layout` where it cannot be known."""
    given = given or {}
    if layer in given:
        return given[layer]
    if ndim <= 2:
        return VECTOR_LAYOUT
    found = known_layout(model, layer, ndim) or given.get("*")
    if found is None:
        raise NNVisError(f"the layout of layer '{layer}' (a {ndim}-axis output) cannot be known from the model; "
                         f"name it with --layout {layer}=KIND, KIND one of {', '.join(KINDS)} (tokens:P for P prefix "
                         "tokens), or choose another layer")
    return found


def known_layout(model: nn.Module, layer: str, ndim: int) -> Layout | None:
    path, _, is_input = split_layer(layer)
    modules = chain(model, path)
    names = [type(m).__name__ for _, m in modules]
    if WINDOWED & set(names) or any(n in WINDOWED_INSIDE for n in names[:-1]) and names[-1] != "WindowDepartition":
        return None
    module = modules[-1][1]
    if ndim == 3:
        return token_layout(model, modules, is_input)
    if ndim == 4:
        if is_input:
            return Layout(CHANNELS_LAST) if isinstance(module, (nn.Linear, nn.LayerNorm)) and \
                type(module).__name__ not in CF_CLASSES else Layout(CHANNELS_FIRST)
        decided = map_kind(model, path)
        if decided:
            return Layout(decided)
        return Layout(CHANNELS_FIRST)  # PyTorch's convention for image maps
    return Layout(CHANNELS_FIRST)


def token_layout(model: nn.Module, modules: list[tuple[str, nn.Module]], is_input: bool) -> Layout | None:
    """The layout of a 3-axis output: a token sequence where the model or module says so."""
    prefix, distilled = token_prefix(model)
    for path, module in reversed(modules):
        if isinstance(module, (nn.MultiheadAttention, nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
                               nn.TransformerEncoder)):
            attention = module if isinstance(module, nn.MultiheadAttention) else next(
                m for m in module.modules() if isinstance(m, nn.MultiheadAttention))
            return Layout(TOKENS if attention.batch_first else SEQUENCE_FIRST, prefix, distilled)
        if path.split(".")[-1] == "patch_embed":
            return Layout(TOKENS)  # before the prefix tokens are prepended
    module = modules[-1][1]
    family = type(model).__name__
    if prefix or family == "VisionTransformer" or isinstance(module, (nn.Linear, nn.LayerNorm)):
        return Layout(TOKENS, prefix, distilled)
    return None


def map_kind(model: nn.Module, path: str) -> str | None:
    """channels-first / channels-last for the 4-axis output of the module at `path`, from the
    module itself, its last deciding child, or (for an element-wise module) its predecessors."""
    module = get_module(model, path) if path else model
    own = module_kind(module)
    if own:
        return own
    if isinstance(module, ELEMENTWISE) or type(module).__name__ in ("StochasticDepth", "DropPath"):
        parent_path, _, name = path.rpartition(".")
        parent = get_module(model, parent_path) if parent_path else model
        siblings = [n for n, _ in parent.named_children()]
        for sibling in reversed(siblings[:siblings.index(name)]):
            decided = children_kind(getattr(parent, sibling))
            if decided:
                return decided
        return None
    return children_kind(module)


def module_kind(module: nn.Module) -> str | None:
    """What the module's own class says."""
    name = type(module).__name__
    fmt = getattr(module, "output_fmt", None)
    if fmt is not None and not getattr(module, "flatten", False):
        text = str(getattr(fmt, "value", fmt))
        if text in ("NHWC", "NCHW"):
            return CHANNELS_LAST if text == "NHWC" else CHANNELS_FIRST
    if name == "Permute" and isinstance(getattr(module, "dims", None), (list, tuple)):
        return CHANNELS_LAST if list(module.dims) == [0, 2, 3, 1] else CHANNELS_FIRST
    if name in CF_CLASSES or isinstance(module, CF_MODULES):
        return CHANNELS_FIRST
    if name in CL_CLASSES or isinstance(module, (nn.Linear, nn.LayerNorm)):
        return CHANNELS_LAST
    return None


def children_kind(module: nn.Module) -> str | None:
    """The kind of the module itself, else of its last child that decides one."""
    own = module_kind(module)
    if own or isinstance(module, ELEMENTWISE):
        return own
    for child in reversed(list(module.children())):
        decided = children_kind(child)
        if decided:
            return decided
    return None


def resolve_tokens(requested: str | None, layouts: dict[str, Layout]) -> str | None:
    """The `--tokens` a run records: None without token layers; by default `cls` where the
    model has a class token, else `mean`. NNVisError for a choice that does not fit."""
    token_layers = [name for name, layout in layouts.items() if layout.is_tokens]
    if requested is not None and requested not in TOKEN_CHOICES:
        raise NNVisError(f"--tokens {requested!r} is unknown; allowed: {', '.join(TOKEN_CHOICES)}")
    has_class = any(layouts[name].prefix for name in token_layers)
    if requested is None:
        return ("cls" if has_class else "mean") if token_layers else None
    if not token_layers:
        raise NNVisError(f"--tokens {requested} is for token layers ((N, T, D) sequences) and none of the layers "
                         f"{', '.join(layouts) or '(none)'} has tokens; leave --tokens out")
    if requested == "cls" and not has_class:
        raise NNVisError("--tokens cls needs a class token and this model has none; allowed: --tokens mean or patches")
    if requested == "patches":
        raise NNVisError("--tokens patches (each patch token an observation) is not stored by `nnvis run`; run with "
                         "--tokens cls or mean, then project the patch tokens with `nnvis patches`")
    return requested
