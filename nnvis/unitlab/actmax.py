"""Activation maximization (Erhan et al. 2009; regularized as in Yosinski et al. 2015): the
input image that drives one unit highest, found by gradient ascent from seeded noise.

A unit is a dense neuron of an (N,D) output, a channel of (N,C,H,W) or channels-last
(N,H,W,C) maps, whose alpha (mean over the map) is maximized, or a hidden unit d of a token
sequence (N,T,D), whose value is read as the workspace's observations are (`--tokens`: the
class token's d-th value, or the mean of d over the patch tokens, prefix tokens left out;
nnvis.unitlab.layouts.what_a_unit_is says which). Images live in the
model's input space (pixels in [0, 1] through the workspace's normalisation, see InputSpace);
the regularizers pull towards mid-grey (pixel 0.5) and the result is shown decoded to pixels.
Each step:

1. jitter: the images are rolled by a random offset of up to `jitter` pixels (gradient unrolled);
2. ascent: x += learning_rate * g / mean|g| (the gradient normalised per image, so the
   learning rate is the mean change of a pixel per step whatever the model's scale);
3. L2 decay: x - 0.5 shrinks by the factor (1 - l2_decay);
4. every `blur_every` steps a Gaussian blur of width `blur_sigma` (torchvision's gaussian_blur);
5. small-norm clipping: pixels whose norm over channels of x - 0.5 is below the
   `norm_percentile`-th percentile of the image are set to 0.5;
6. small-contribution clipping: pixels whose |sum over channels of (x - 0.5) * g| is below the
   `contribution_percentile`-th percentile are set to 0.5;
7. x is clipped to the image of [0, 1] (pixels) in the model's input space.

`restarts` runs start from different noise and are optimised side by side in one batch.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import nn
from torchvision.transforms.functional import gaussian_blur

from nnvis.errors import NNVisError
from nnvis.models.feature_maps import data_channels, layer_outputs, layer_shape, unit_activation
from nnvis.models.hooks import eval_mode
from nnvis.models.layers import get_module
from nnvis.models.layout import Layout, layout_of
from nnvis.models.zoo import LoadedModel
from nnvis.progress import Progress, no_progress
from nnvis.unitlab.layouts import given_layouts, workspace_tokens
from nnvis.unitlab.stats import refuse_dead_unit
from nnvis.workspace import keys

if TYPE_CHECKING:
    from nnvis.workspace.analysis import Analysis

CENTRE = 0.5
METHOD = keys.ACTMAX_METHOD


@dataclass(frozen=True)
class ActMaxParams:
    """The optimisation's settings (defaults: a regularized run of a few seconds on a CPU for
    a 28x28 model). Percentiles are 0 (off) to below 100; blur_every 0 turns blurring off.
    Jitter is off by default: it costs an MLP or a small image much of its activation (a
    1-pixel shift of an 8x8 digit is large); give 2 to 8 pixels for conv nets on large images."""

    steps: int = 200
    learning_rate: float = 0.05
    l2_decay: float = 0.01
    blur_every: int = 4
    blur_sigma: float = 0.5
    norm_percentile: float = 0.0
    contribution_percentile: float = 0.0
    jitter: int = 0
    restarts: int = 4
    init_std: float = 0.2
    seed: int = 0

    def validate(self) -> "ActMaxParams":
        """Raise NNVisError naming the first value outside what is allowed; return self otherwise."""
        checks = [
            ("steps", self.steps >= 1, ">= 1"), ("restarts", 1 <= self.restarts <= 64, "1..64"),
            ("learning_rate", self.learning_rate > 0, "> 0"), ("l2_decay", 0 <= self.l2_decay < 1, "in [0, 1)"),
            ("blur_every", self.blur_every >= 0, ">= 0 (0: no blur)"),
            ("blur_sigma", self.blur_sigma >= 0, ">= 0 (0: no blur)"),
            ("norm_percentile", 0 <= self.norm_percentile < 100, "in [0, 100)"),
            ("contribution_percentile", 0 <= self.contribution_percentile < 100, "in [0, 100)"),
            ("jitter", self.jitter >= 0, ">= 0"), ("init_std", self.init_std >= 0, ">= 0"),
        ]
        for name, ok, allowed in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or not ok:
                raise NNVisError(f"actmax {name} must be {allowed}, got {value!r}")
        for name in ("steps", "restarts", "blur_every", "jitter", "seed"):
            if not isinstance(getattr(self, name), (int, np.integer)):
                raise NNVisError(f"actmax {name} must be an integer, got {getattr(self, name)!r}")
        return self

    def as_key(self) -> dict:
        """The settings as store-key parameters."""
        return {name: (float(v) if isinstance(v, float) else int(v)) for name, v in asdict(self).items()}


@dataclass
class ActMaxResult:
    """Images (uint8, restarts x image shape), the unit's activation that each image achieves
    (as uint8 pixels), and how many steps ran (fewer than asked when cancelled)."""

    images: np.ndarray
    activations: np.ndarray
    steps_done: int
    steps: int

    @property
    def cancelled(self) -> bool:
        return self.steps_done < self.steps

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"images": self.images, "activations": self.activations,
                "steps_done": np.int64(self.steps_done), "steps": np.int64(self.steps)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "ActMaxResult":
        return cls(arrays["images"], arrays["activations"], int(arrays["steps_done"]), int(arrays["steps"]))



def blur_kernel_size(sigma: float, height: int, width: int) -> int:
    """An odd kernel of about 3 sigma each side, no wider than reflect padding allows."""
    size = 2 * math.ceil(3 * sigma) + 1
    largest = 2 * min(height, width) - 1
    return max(3, min(size, largest if largest % 2 else largest - 1))


def percentile_mask(values: torch.Tensor, percentile: float) -> torch.Tensor:
    """True where a pixel of `values` (N,H,W) lies below its image's `percentile`-th percentile
    (linear interpolation, as numpy.percentile)."""
    flat = values.flatten(1)
    threshold = torch.quantile(flat, percentile / 100.0, dim=1, keepdim=True)
    return (flat < threshold).reshape(values.shape)


class InputSpace:
    """Where the ascent's images live: the model's input space when the data has the model's
    channels (`encode` = the workspace's normalisation), else pixels that the forward pass
    turns into model inputs (grey data for a colour model). `centre`, `low`, `high`: mid-grey,
    black and white there, per channel (1,C,1,1)."""

    def __init__(self, model: LoadedModel, channels: int, device: str):
        self.model = model
        self.native = channels == model.in_channels
        grey = torch.full((1, channels, 1, 1), CENTRE, device=device)
        self.centre, self.low, self.high = (self.encode(grey * v / CENTRE) for v in (CENTRE, 0.0, 1.0))

    def encode(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.model.preprocess.to_model(pixels) if self.native else pixels

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.preprocess.to_pixels(x) if self.native else x

    def forward_input(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.native else self.model.pixels_to_input(x)


def regularize(x: torch.Tensor, grad: torch.Tensor, step: int, params: ActMaxParams, *,
               centre: float | torch.Tensor = CENTRE, low: float | torch.Tensor = 0.0,
               high: float | torch.Tensor = 1.0) -> torch.Tensor:
    """Steps 3-7 of the module docstring on images `x` (N,C,H,W) after the ascent of step
    `step` (counted from 1), given the gradient `grad` of that step. Returns new images.
    `centre`, `low` and `high` are mid-grey, black and white in the space `x` lives in."""
    d = (x - centre) * (1.0 - params.l2_decay)
    if params.blur_every and params.blur_sigma > 0 and step % params.blur_every == 0:
        size = blur_kernel_size(params.blur_sigma, d.shape[2], d.shape[3])
        d = gaussian_blur(d, [size, size], [params.blur_sigma, params.blur_sigma])
    if params.norm_percentile > 0:
        small = percentile_mask(d.norm(dim=1), params.norm_percentile)
        d = d.masked_fill(small[:, None], 0.0)
    if params.contribution_percentile > 0:
        small = percentile_mask((d * grad).sum(dim=1).abs(), params.contribution_percentile)
        d = d.masked_fill(small[:, None], 0.0)
    return (d + centre).clamp_(low, high)


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """(N,C,H,W) in [0, 1] to uint8 (N,H,W) or (N,H,W,3), the data's layout."""
    pixels = torch.round(x.detach().clamp(0, 1) * 255).to(torch.uint8).cpu()
    return pixels[:, 0].numpy() if pixels.shape[1] == 1 else pixels.permute(0, 2, 3, 1).numpy()


def ascent_point(module: nn.Module, layer: str, dense: bool) -> tuple[str, bool]:
    """Where the ascent reads the unit: (module path, read its input). A dense unit whose layer
    ends in a ReLU is read before that ReLU: relu(z) and z have the same maximizers once z > 0,
    and z has a gradient where a unit dead on noise has none. Maps are read as they are, since
    the mean of relu(z) over a map is not a function of the mean of z."""
    target = get_module(module, layer)
    if dense and isinstance(target, nn.ReLU):
        return layer, True
    children = list(target.named_children()) if isinstance(target, nn.Sequential) else []
    if dense and children and isinstance(children[-1][1], nn.ReLU):
        return f"{layer}.{children[-1][0]}", True
    return layer, False


def unit_values(module: nn.Module, x: torch.Tensor, point: tuple[str, bool], unit: int, *, tokens: str | None = None,
                layouts: dict[str, Layout] | None = None) -> torch.Tensor:
    """The unit's value per image (N,) read at `point` (see ascent_point), on the unit axis of
    the layer's layout (`layouts`: --layout; `tokens`: which tokens a token layer's value reads)."""
    path, before = point
    output = layer_outputs(module, x, [path], inputs=before)[path]
    layout = layout_of(module, path, output.ndim, layouts) if output.ndim > 2 and not before else None
    return unit_activation(output, layout, tokens)[:, unit]


def activation_maximization(model: LoadedModel, layer: str, unit: int, image_shape: tuple[int, ...],
                            params: ActMaxParams = ActMaxParams(), *, device: str = "cpu",
                            progress: Progress = no_progress, should_stop: Callable[[], bool] | None = None,
                            tokens: str | None = None, layouts: dict[str, Layout] | None = None) -> ActMaxResult:
    """Maximize unit `unit` of `layer` over input images of `image_shape` ((H,W) or (H,W,3)).

    Reports progress("actmax", step, steps) about 100 times; `should_stop()` is asked before
    every step, and returning True ends the run early with the images reached so far. The
    model's train/eval mode is restored afterwards and its parameters get no gradients."""
    params.validate()
    channels = data_channels(image_shape)
    height, width = int(image_shape[0]), int(image_shape[1])
    shape = layer_shape(model, layer, image_shape, device)
    n_units = shape[0] if shape else 1
    if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < n_units:
        raise NNVisError(f"unit {unit!r} is out of range for layer '{layer}' ({n_units} units: 0..{n_units - 1})")
    rng = np.random.default_rng(params.seed)
    noise = rng.normal(CENTRE, params.init_std, (params.restarts, channels, height, width)).clip(0, 1)
    space = InputSpace(model, channels, device)
    x = space.encode(torch.from_numpy(noise.astype(np.float32)).to(device))
    module = model.module
    point = ascent_point(module, layer, dense=len(shape) == 1)
    report_every = max(1, params.steps // 100)
    done = 0
    with eval_mode(module, device):
        for step in range(1, params.steps + 1):
            if should_stop is not None and should_stop():
                break
            dy, dx = (rng.integers(-params.jitter, params.jitter + 1, 2).tolist() if params.jitter else (0, 0))
            leaf = x.detach().requires_grad_(True)
            shifted = torch.roll(leaf, shifts=(dy, dx), dims=(2, 3)) if (dy or dx) else leaf
            objective = unit_values(module, space.forward_input(shifted), point, unit, tokens=tokens,
                                    layouts=layouts).sum()
            (grad,) = torch.autograd.grad(objective, leaf)
            scale = grad.abs().flatten(1).mean(dim=1).clamp_min(1e-12)[:, None, None, None]
            with torch.no_grad():
                x = regularize(leaf.detach() + params.learning_rate * grad / scale, grad, step, params,
                               centre=space.centre, low=space.low, high=space.high)
            done = step
            if step % report_every == 0 or step == params.steps:
                progress("actmax", step, params.steps)
        images = to_uint8(space.decode(x))
        with torch.no_grad():
            final = torch.from_numpy(np.ascontiguousarray(images)).float().div(255).to(device)
            final = final[:, None] if final.ndim == 3 else final.permute(0, 3, 1, 2)
            achieved = unit_values(module, model.pixels_to_input(final), (layer, False), unit, tokens=tokens,
                                   layouts=layouts)
            achieved = achieved.float().cpu().numpy()
    return ActMaxResult(images, achieved.astype(np.float32), done, params.steps)


class _Stopped(Exception):
    """Carries a cancelled run out of the store's compute function, so it is never stored."""

    def __init__(self, result: ActMaxResult):
        super().__init__("cancelled")
        self.result = result


def actmax_for(analysis: "Analysis", layer: str, epoch: int, unit: int, params: ActMaxParams = ActMaxParams(), *,
               progress: Progress | None = None, should_stop: Callable[[], bool] | None = None) -> ActMaxResult:
    """Activation maximization of `unit` of `layer` for the workspace's model at `epoch`, on
    `analysis.device`, fetched from the store or computed and stored (a cancelled run is
    returned but not stored). Any module path of the model is allowed, not only captured layers."""
    params.validate()
    key = keys.actmax(analysis, layer, epoch, unit, params.as_key())

    def compute() -> dict[str, np.ndarray]:
        if layer in analysis.layers:  # captured: the subset tells whether the unit ever fires
            refuse_dead_unit(analysis.unit_activations(layer, epoch, unit), unit, layer, "activation maximization")
        result = activation_maximization(
            analysis.model(epoch), layer, unit, tuple(analysis.manifest["image_shape"]), params,
            device=analysis.device, progress=progress or analysis.progress, should_stop=should_stop,
            tokens=workspace_tokens(analysis), layouts=given_layouts(analysis))
        if result.cancelled:
            raise _Stopped(result)
        return result.to_arrays()

    try:
        return ActMaxResult.from_arrays(analysis.store.get_or_compute(key, compute))
    except _Stopped as stopped:
        return stopped.result
