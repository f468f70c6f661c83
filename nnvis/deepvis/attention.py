"""A transformer's attention for one input: per layer and head, the class token's attention over
the patch tokens, and attention rollout (Abnar and Zuidema, ACL 2020).

The weights are recomputed from each attention module's own projections, softmax(QKᵀ/√d),
because the models never hand them out: torchvision's EncoderBlock calls nn.MultiheadAttention
with need_weights=False, timm's Attention runs a fused kernel. The input of every attention
module is read with a forward pre-hook in one forward pass.

Rollout: the heads' mean A_l of each layer, Ã_l = norm(0.5·A_l + 0.5·I) (rows renormalised),
R = Ã_L ··· Ã_1; the class token's row of R over the patch tokens is the map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from nnvis.errors import NNVisError
from nnvis.models.hooks import eval_mode, forward_hooks
from nnvis.models.layout import patch_grid, token_prefix


def is_attention(module: nn.Module) -> bool:
    """nn.MultiheadAttention (torchvision's ViT), or timm's Attention (a `qkv` Linear and `num_heads`)."""
    return isinstance(module, nn.MultiheadAttention) or (
        isinstance(getattr(module, "qkv", None), nn.Linear) and isinstance(getattr(module, "num_heads", None), int)
        and type(module).__name__ in ("Attention", "AttentionRope"))


def attention_layers(model: nn.Module) -> list[str]:
    """The module paths of the model's attention modules, in forward order (registration)."""
    return [name for name, module in model.named_modules() if name and is_attention(module)]


def weights_from_input(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """softmax(QKᵀ/√d) per head, (N, heads, T, T), from the module's own projections of its
    input `x` (N, T, D) (sequence-first (T, N, D) for an nn.MultiheadAttention without batch_first)."""
    if isinstance(module, nn.MultiheadAttention):
        if not module.batch_first:
            x = x.transpose(0, 1)
        if not module._qkv_same_embed_dim:
            raise NNVisError("attention with separate key/value sizes is not supported")
        n, t, d = x.shape
        heads = module.num_heads
        q, k, _ = F.linear(x, module.in_proj_weight, module.in_proj_bias).chunk(3, dim=-1)
        q = q.reshape(n, t, heads, d // heads).transpose(1, 2)
        k = k.reshape(n, t, heads, d // heads).transpose(1, 2)
        return torch.softmax(q @ k.transpose(-2, -1) / (d // heads) ** 0.5, dim=-1)
    n, t, d = x.shape
    heads = module.num_heads
    qkv = module.qkv(x).reshape(n, t, 3, heads, -1).permute(2, 0, 3, 1, 4)
    q, k = qkv[0], qkv[1]
    q, k = getattr(module, "q_norm", nn.Identity())(q), getattr(module, "k_norm", nn.Identity())(k)
    scale = getattr(module, "scale", q.shape[-1] ** -0.5)
    return torch.softmax((q * scale) @ k.transpose(-2, -1), dim=-1)


def rollout(per_layer: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout of (heads, T, T) weights of each layer, first layer first: (T, T)."""
    result = None
    for weights in per_layer:
        mean = weights.mean(dim=0)
        mixed = 0.5 * mean + 0.5 * torch.eye(len(mean), dtype=mean.dtype)
        mixed = mixed / mixed.sum(dim=-1, keepdim=True)
        result = mixed if result is None else mixed @ result
    if result is None:
        raise NNVisError("no attention layer to roll out")
    return result


@dataclass
class Attention:
    """One input's attention: per layer (heads, T, T) weights, the prefix tokens, the patch
    grid, the class token's maps per layer and head (heads, h, w) and the rollout map (h, w)."""

    layers: list[str]
    weights: list[np.ndarray]
    prefix: int
    grid: tuple[int, int]
    maps: dict[str, np.ndarray]
    rollout: np.ndarray


@torch.no_grad()
def attention_maps(module: nn.Module, x: torch.Tensor, layers: list[str] | None = None) -> Attention:
    """The attention of model `module` for one input `x` (1, C, H, W) (the model's input space):
    every attention module, one forward pass; `layers` limits the per-layer maps (rollout
    always runs over every layer)."""
    every = attention_layers(module)
    if not every:
        raise NNVisError(f"model {type(module).__name__} has no attention module (nn.MultiheadAttention or timm "
                         "Attention); attention maps are for transformers")
    for name in layers or []:
        if name not in every:
            raise NNVisError(f"layer '{name}' is not an attention module; allowed: {', '.join(every)}")
    inputs: dict[str, torch.Tensor] = {}
    def keep(name: str, value: torch.Tensor) -> None:  # a hook that returns a value would replace the input
        inputs.setdefault(name, value.detach())

    hooks = {f"{name}:input": (lambda value, name=name: keep(name, value)) for name in every}
    with eval_mode(module), forward_hooks(module, hooks):
        module(x)
    modules = dict(module.named_modules())
    weights = [weights_from_input(modules[name], inputs[name])[0].double() for name in every]
    prefix, _ = token_prefix(module)
    patches = weights[0].shape[-1] - prefix
    grid = patch_grid(patches, tuple(x.shape[-2:]))
    rolled = rollout(weights)[0, prefix:].reshape(grid).float().numpy()
    maps = {name: w[:, 0, prefix:].reshape(len(w), *grid).float().numpy()
            for name, w in zip(every, weights) if not layers or name in layers}
    return Attention(every, [w.float().numpy() for w in weights], prefix, grid, maps, rolled)
