"""Saliency maps by Captum: which input pixels a unit, or the predicted class, depends on.

Methods, for a unit of a layer / for a class of the output:
- `gradient`: NeuronGradient / Saliency, the gradient of the value with respect to the input;
- `guided`: NeuronGuidedBackprop / GuidedBackprop, the gradient with only positive gradients
  passed back through each ReLU module (Springenberg et al. 2015);
- `integrated`: NeuronIntegratedGradients / IntegratedGradients from a black image (zeros) to
  the input, `steps` steps of the Gauss-Legendre rule.

A unit's value is what activation maximization maximizes (nnvis.models.feature_maps.unit_activation): a
dense neuron as is, a channel of (C,H,W) or channels-last (H,W,C) maps as its mean over the map
(Shang's alpha), a hidden unit of a token sequence (T,D) at the tokens that stand for an image
(`tokens`: the class token, or the mean over the patch tokens); the layout is the layer's
(nnvis.models.layout). Captum takes it through a callable `neuron_selector`,
`out -> unit_activation(out, layout, tokens)[:, unit]`.

Guided backprop only changes how gradients pass back through nn.ReLU modules: on a model
without one (a ViT's GELUs) it would be the plain gradient under another name, so it is
refused in one line.

The attributions are signed, in the model's input channels, and taken with respect to the
pixels in [0, 1] (the workspace's normalisation runs inside the attributed function, so a
normalised model's map is in pixel space and the integrated-gradient baseline is black); the map shown is their absolute
value, the largest over the channels at each pixel, divided by its maximum (so [0, 1]; all
zeros when no gradient reaches the input, e.g. for a ReLU unit that is off for this input).

Captum's hooks need care: guided backprop hooks every nn.ReLU, and a hooked ReLU that works in
place (torchvision's) breaks autograd; Captum also reads a reused module (the ReLU of a
BasicBlock, called twice) at its last call. So the attributions run on a deep copy of the model
in eval mode with every `inplace` turned off, and a layer called more than once is refused.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import (
    GuidedBackprop,
    IntegratedGradients,
    NeuronGradient,
    NeuronGuidedBackprop,
    NeuronIntegratedGradients,
    Saliency,
)
from torch import nn

from nnvis.deepvis.grid import check_input
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import normalise, unit_activation
from nnvis.models.hooks import collected_outputs, model_lock
from nnvis.models.layers import ACTIVATIONS, get_module
from nnvis.models.layout import Layout, layout_of
from nnvis.models.zoo import LoadedModel

METHODS = ("gradient", "guided", "integrated")
UNIT_METHODS = {"gradient": NeuronGradient, "guided": NeuronGuidedBackprop, "integrated": NeuronIntegratedGradients}
CLASS_METHODS = {"gradient": Saliency, "guided": GuidedBackprop, "integrated": IntegratedGradients}
STEPS = 32
_CAPTUM_NOTES = ("Setting backward hooks on ReLU", "Input Tensor")


@dataclass
class SaliencyMap:
    """One attribution: what it explains (a unit of a layer, or a class), its value for the
    input, the signed attributions (C,H,W) and the map shown (H,W) in [0, 1]."""

    method: str
    captum: str
    target: str
    value: float
    attribution: np.ndarray
    saliency: np.ndarray
    layer: str | None = None
    unit: int | None = None
    class_index: int | None = None

    @property
    def peak(self) -> float:
        """The largest |attribution|: 0 when no gradient reached the input."""
        return float(np.abs(self.attribution).max()) if self.attribution.size else 0.0

    def summary(self) -> dict:
        """JSON-ready numbers: what was explained, its value, the peak and the map."""
        found = {"method": self.method, "captum": self.captum, "target": self.target, "value": self.value,
                 "peak": self.peak, "map_size": list(self.saliency.shape), "map": np.round(self.saliency, 6).tolist()}
        if self.target == "unit":
            found.update(layer=self.layer, unit=self.unit)
        else:
            found["class"] = self.class_index
        return found


def check_method(method: str) -> str:
    if method not in METHODS:
        raise NNVisError(f"saliency method {method!r} is unknown; allowed: {', '.join(METHODS)}")
    return method


def saliency_map(attribution: np.ndarray) -> np.ndarray:
    """Signed attributions (C,H,W) to the map shown: max over channels of |a|, scaled to [0, 1]."""
    magnitude = np.abs(np.asarray(attribution, dtype=np.float32)).max(axis=0)
    return normalise(magnitude, 0.0, float(magnitude.max()))


class PixelInput(nn.Module):
    """The network behind its preprocessing: pixels in, the network's output out."""

    def __init__(self, network: nn.Module, preprocess):
        super().__init__()
        self.network, self.preprocess = network, preprocess

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.network(self.preprocess.to_model(pixels))


class Explainer:
    """Captum attributions for one model, on a deep copy of it in eval mode with in-place
    operations off and parameters frozen (the caller's model is never touched)."""

    def __init__(self, model: LoadedModel, device: str = "cpu", steps: int = STEPS, *, tokens: str | None = None,
                 layouts: dict[str, Layout] | None = None):
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= 1000:
            raise NNVisError(f"integrated-gradient steps must be an integer in 1..1000, got {steps!r}")
        with model_lock(model.module):  # not while another thread has hooks on it
            module = copy.deepcopy(model.module).eval().to(device)
        for part in module.modules():
            if hasattr(part, "inplace"):
                part.inplace = False
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        self.module, self.device, self.steps = module, device, int(steps)
        self.preprocess = model.preprocess
        self.forward = PixelInput(module, model.preprocess)
        self.tokens, self.layouts = tokens, layouts

    def check_guided(self, method: str) -> None:
        """NNVisError for guided backprop on a model without nn.ReLU modules (it would be the plain gradient)."""
        if method != "guided" or any(isinstance(part, nn.ReLU) for part in self.module.modules()):
            return
        found = sorted({type(part).__name__ for part in self.module.modules() if isinstance(part, ACTIVATIONS)})
        uses = f"it uses {', '.join(found)}" if found else "its activations are functions, not modules"
        raise NNVisError(f"guided backprop only rewires nn.ReLU modules and this model has none ({uses}): its map "
                         "would be the plain gradient under another name; choose gradient or integrated")

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        """The model input `x` (1,C,H,W) back in pixels, the variable attributions are taken for."""
        return self.preprocess.to_pixels(check_input(x).detach().to(self.device)).clone().requires_grad_(True)

    def _attribute(self, attributor, x: torch.Tensor, method: str, **kwargs) -> np.ndarray:
        if method == "integrated":
            kwargs["n_steps"] = self.steps
        with warnings.catch_warnings():
            for note in _CAPTUM_NOTES:
                warnings.filterwarnings("ignore", message=note)
            attribution = attributor.attribute(x, **kwargs)
        return attribution[0].detach().float().cpu().numpy()

    @torch.no_grad()
    def _probe(self, x: torch.Tensor, layer: str) -> tuple[torch.Tensor, int]:
        """The layer's first output for `x` and how many times the forward calls it."""
        with collected_outputs(self.module, [layer]) as outputs:
            self.forward(x.detach())
        seen = outputs[layer]
        if not seen:
            raise NNVisError(f"layer '{layer}' is never called by the model's forward pass; "
                             "choose a module the forward uses (list them with `nnvis layers`)")
        return seen[0], len(seen)

    def unit(self, x: torch.Tensor, layer: str, unit: int, method: str) -> SaliencyMap:
        """Attribution of unit `unit` of `layer` (a neuron, or a channel's mean) for input `x`."""
        check_method(method)
        self.check_guided(method)
        x = self._input(x)
        output, calls = self._probe(x, layer)
        if calls > 1:
            raise NNVisError(f"layer '{layer}' is called {calls} times in one forward pass (a reused module, like "
                             "the ReLU of a ResNet block); saliency needs a layer called once: pick the block "
                             "that holds it or one of its convolutions")
        layout = layout_of(self.module, layer, output.ndim, self.layouts) if output.ndim > 2 else None
        values = unit_activation(output, layout, self.tokens)
        n_units = values.shape[1]
        if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or not 0 <= unit < n_units:
            raise NNVisError(f"unit {unit!r} is out of range for layer '{layer}' ({n_units} units: 0..{n_units - 1})")
        unit = int(unit)
        attributor = UNIT_METHODS[method](self.forward, get_module(self.module, layer))
        attribution = self._attribute(attributor, x, method,
                                      neuron_selector=lambda out: unit_activation(out, layout, self.tokens)[:, unit])
        return SaliencyMap(method, type(attributor).__name__, "unit", float(values[0, unit]), attribution,
                           saliency_map(attribution), layer=layer, unit=unit)

    def predicted_class(self, x: torch.Tensor, method: str, target: int | None = None) -> SaliencyMap:
        """Attribution of the output's class `target` (default: the predicted class) for input `x`;
        its value is the class's softmax probability."""
        check_method(method)
        self.check_guided(method)
        x = self._input(x)
        with torch.no_grad():
            logits = self.forward(x.detach())
        logits = logits[0] if isinstance(logits, (tuple, list)) else logits
        if logits.ndim != 2:
            raise NNVisError(f"the model outputs shape {tuple(logits.shape)}, not class scores (N, classes)")
        probabilities = torch.softmax(logits.double(), dim=1)[0]
        n_classes = len(probabilities)
        target = int(probabilities.argmax()) if target is None else target
        if isinstance(target, bool) or not isinstance(target, (int, np.integer)) or not 0 <= target < n_classes:
            raise NNVisError(f"class {target!r} is out of range ({n_classes} classes: 0..{n_classes - 1})")
        attributor = CLASS_METHODS[method](self.forward)
        extra = {"abs": False} if method == "gradient" else {}
        attribution = self._attribute(attributor, x, method, target=int(target), **extra)
        return SaliencyMap(method, type(attributor).__name__, "class", float(probabilities[target]), attribution,
                           saliency_map(attribution), class_index=int(target))

