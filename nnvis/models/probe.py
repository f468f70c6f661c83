"""One forward pass that says how a model's modules are used: how often each is called, and
whether the module chosen as the classifier's input is what the last Linear truly reads."""

from __future__ import annotations

import torch
from torch import nn

from nnvis.models.hooks import eval_mode, first_tensor


@torch.no_grad()
def probe_calls(model: nn.Module, probe: torch.Tensor, paths: list[str], candidate: str | None,
                linear: str | None) -> tuple[dict[str, int], bool]:
    """({module path: calls in one forward of `probe`}, whether `candidate`'s output equals the
    input of the Linear at `linear`, value for value). The model's modes are restored."""
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    seen: dict[str, torch.Tensor] = {}

    def counter(path: str):
        def hook(_module, _args, output) -> None:
            calls[path] = calls.get(path, 0) + 1
            if path == candidate and path not in seen:
                seen[path] = first_tensor(output).detach().clone()
        return hook

    def reader(_module, args) -> None:
        seen.setdefault(":input", args[0].detach().clone())

    handles = [modules[path].register_forward_hook(counter(path)) for path in dict.fromkeys(paths + [candidate or ""])
               if path in modules and path]
    if linear in modules:
        handles.append(modules[linear].register_forward_pre_hook(reader))
    try:
        with eval_mode(model):
            model(probe)
    finally:
        for handle in handles:
            handle.remove()
    out, read = seen.get(candidate or ""), seen.get(":input")
    same = out is not None and read is not None and out.numel() == read.numel() and \
        bool(torch.equal(out.reshape(read.shape), read))
    return calls, same


def probe_input(in_channels: int, image_hw: tuple[int, int], n: int = 4) -> torch.Tensor:
    """A seeded random batch (N, C, H, W) around 0, so that activations of both signs occur."""
    generator = torch.Generator().manual_seed(0)
    return torch.randn((n, in_channels, *image_hw), generator=generator)
