"""How far to trust a saliency map, measured by Quantus (Hedström et al., JMLR 2023):

- deletion (Petsiuk et al., RISE 2018): the pixels set to black in the order of the map, most
  salient first, a step at a time (Quantus' PixelFlipping); the explained value (the class's
  softmax probability, or the unit's activation) traced after each step; the area under that
  curve over the fraction removed, in [0, 1] for a probability. Lower is better: the map found
  what the value needs.
- insertion: the same pixels put back into a black image in the same order (PixelFlipping run
  from the black image with an insertion step). Higher is better.
- both against a random ranking of the same pixels (a seeded uniform map): a faithful map
  deletes faster and inserts faster than chance.
- model-parameter randomisation (Adebayo et al., NeurIPS 2018; Quantus' MPRT): the top
  TOP_LAYERS layers with parameters re-initialised, cascading from the output (for a unit, the
  top layers of those that feed it), and the Spearman correlation of the map's absolute values
  with the trained model's. High similarity means the map does not depend on what the model
  learned (guided backprop's known failure).

Maps and perturbations are in pixel space ([0, 1], the workspace's normalisation inside the
model, as nnvis.deepvis.saliency draws them), on a deep copy of the model with in-place
operations off (saliency.Explainer's)."""

from __future__ import annotations

import warnings

import numpy as np
import torch
from torch import nn

from nnvis.deepvis.saliency import CLASS_METHODS, METHODS, STEPS, Explainer
from nnvis.errors import NNVisError
from nnvis.models.feature_maps import layer_outputs, unit_activation
from nnvis.models.zoo import LoadedModel, images_to_tensor

RANDOMISED = METHODS  # every saliency method of nnvis.deepvis.saliency has a randomisation check
TOP_LAYERS = 2
CURVE_STEPS = 32
MEASURES = ("deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc", "randomisation_similarity")


def check_method(method: str) -> str:
    if method not in RANDOMISED:
        raise NNVisError(f"method {method!r} has no faithfulness or randomisation check here; allowed: "
                         f"{', '.join(RANDOMISED)}")
    return method


class UnitOutput(nn.Module):
    """A network whose output is one unit's value (a dense neuron, or a channel's mean): (N, 1)."""

    def __init__(self, network: nn.Module, layer: str, unit: int):
        super().__init__()
        self.network, self.layer, self.unit = network, layer, unit

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return unit_activation(layer_outputs(self.network, x, [self.layer])[self.layer])[:, self.unit:self.unit + 1]


def explain(model: nn.Module, inputs, targets, method: str = "gradient", steps: int = STEPS, **_) -> np.ndarray:
    """Quantus' explain_func: the map shown (max over channels of |attribution|), (N, 1, H, W)."""
    x = torch.as_tensor(np.asarray(inputs), dtype=torch.float32).requires_grad_(True)
    target = torch.as_tensor(np.asarray(targets), dtype=torch.long)
    extra = {"n_steps": steps} if method == "integrated" else {"abs": False} if method == "gradient" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        attribution = CLASS_METHODS[method](model).attribute(x, target=target, **extra)
    return attribution.detach().abs().amax(dim=1, keepdim=True).numpy()


def insert_pixels(arr: np.ndarray, indices: np.ndarray, source: np.ndarray, **_) -> np.ndarray:
    """Quantus perturb_func for insertion: the features at `indices` copied from the image."""
    found = arr.copy()
    rows = np.arange(len(arr))[:, None]
    found[rows, indices] = source[rows, indices]
    return found


def area(curves: np.ndarray) -> np.ndarray:
    """Area under each curve (N, steps) over the fraction of pixels changed, 0 to 1 (trapezoids)."""
    curves = np.asarray(curves, dtype=np.float64)
    return np.trapezoid(curves, dx=1.0 / max(curves.shape[1] - 1, 1), axis=1)


class Faithfulness:
    """The faithfulness measures of one saliency method for a class (the predicted one) or a unit."""

    def __init__(self, model: LoadedModel, method: str, *, layer: str | None = None, unit: int | None = None,
                 device: str = "cpu", steps: int = STEPS, seed: int = 0):
        self.method = check_method(method)
        explainer = Explainer(model, "cpu", steps)  # Quantus runs on numpy arrays, on the CPU
        self.in_channels, self.steps, self.seed, self.layer = model.in_channels, int(steps), int(seed), layer
        if (layer is None) != (unit is None):
            raise NNVisError("give --layer and --unit together (a unit of a layer), or neither (the predicted class)")
        if layer is not None:
            if isinstance(unit, bool) or not isinstance(unit, (int, np.integer)) or unit < 0:
                raise NNVisError(f"unit {unit!r} is not a unit index; allowed: a whole number >= 0")
            self.network = UnitOutput(explainer.forward, f"network.{layer}", int(unit))
        else:
            self.network = explainer.forward
        self.network.eval()

    def targets(self, x: np.ndarray) -> tuple[np.ndarray, bool]:
        """What each map explains: the predicted class (softmax probability traced) or the unit (output 0)."""
        if self.layer is not None:
            with torch.no_grad():
                values = unit_activation(layer_outputs(self.network.network, torch.from_numpy(x[:1]),
                                                       [self.network.layer])[self.network.layer])
            if self.network.unit >= values.shape[1]:
                raise NNVisError(f"unit {self.network.unit} is out of range for layer '{self.layer}' "
                                 f"({values.shape[1]} units: 0..{values.shape[1] - 1})")
            return np.zeros(len(x), dtype=np.int64), False
        with torch.no_grad():
            return self.network(torch.from_numpy(x)).argmax(dim=1).numpy(), True

    def measure(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """Per image: deletion and insertion AUC of the map and of a random ranking, and the
        randomisation similarity (NaN where a map is constant: no ranking to compare). `images` are
        uint8 (N,H,W) or (N,H,W,3)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Quantus' notes on steps that change nothing (black on black)
            return self._measure(images)

    def _measure(self, images: np.ndarray) -> dict[str, np.ndarray]:
        import quantus

        x = images_to_tensor(np.asarray(images), self.in_channels).numpy().astype(np.float32)
        y, softmax = self.targets(x)
        kwargs = {"method": self.method, "steps": self.steps}
        maps = explain(self.network, x, y, **kwargs)
        chance = np.random.default_rng(self.seed).uniform(size=maps.shape).astype(np.float32)
        features, pixels = int(np.prod(x.shape[1:])), int(np.prod(x.shape[2:]))
        per_step = max(1, -(-features // CURVE_STEPS))
        while pixels % per_step:
            per_step += 1  # Quantus wants steps that divide the image's H x W
        found = {}
        for name, ranking in (("", maps), ("random_", chance)):
            for kind, start, options in (("deletion", x, {"perturb_baseline": 0.0}),
                                         ("insertion", np.zeros_like(x), {"perturb_func": insert_pixels,
                                                                          "perturb_func_kwargs": {
                                                                              "source": x.reshape(len(x), -1)}})):
                metric = quantus.PixelFlipping(features_in_step=per_step, abs=True, normalise=False,
                                               disable_warnings=True, **options)
                curves = metric(model=self.network, x_batch=start, y_batch=y, a_batch=ranking, softmax=softmax,
                                device="cpu", channel_first=True, batch_size=len(x))
                found[f"{name}{kind}_auc"] = area(np.asarray(curves))
        found["randomisation_similarity"] = self.randomisation(x, y, maps, kwargs)
        return found

    def randomisation(self, x: np.ndarray, y: np.ndarray, maps: np.ndarray, kwargs: dict) -> np.ndarray:
        """Spearman of |map| between the trained model and the model with its top TOP_LAYERS
        layers (of those that feed the explained value) re-initialised, cascading from the top."""
        import quantus

        metric = top_layers_mprt(self.feeds, TOP_LAYERS)(
            layer_order="top_down", similarity_func=quantus.similarity_func.correlation_spearman, abs=True,
            normalise=True, disable_warnings=True, seed=self.seed)
        scores = metric(model=self.network, x_batch=x, y_batch=y, a_batch=maps, explain_func=explain,
                        explain_func_kwargs=kwargs, device="cpu", channel_first=True, batch_size=len(x))
        layers = [name for name in scores if name != "original" and self.feeds(name)]
        if not layers:
            raise NNVisError("no layer with parameters feeds the explained value; nothing to randomise")
        return np.asarray(scores[layers[min(TOP_LAYERS, len(layers)) - 1]], dtype=np.float64)

    def feeds(self, name: str) -> bool:
        """Whether the module `name` (of self.network) is at or below the unit's layer (always for a class)."""
        if self.layer is None:
            return True
        order = [path for path, _ in self.network.named_modules()]
        target = f"network.network.{self.layer}"
        return name in order and (order.index(name) <= order.index(target) or name.startswith(target + "."))


class TopLayers:
    """Quantus' model wrapper whose cascade of re-initialised layers (top down) stops once `count`
    layers that `keep` accepts have been randomised: the layers below are never explained again
    (the same cascade and seeds as the full one, up to there; MPRT has no option to stop early)."""

    def __init__(self, wrapped, keep, count: int):
        self.wrapped, self.keep, self.count = wrapped, keep, count

    def __getattr__(self, name):
        return getattr(self.wrapped, name)

    def names(self) -> list[str]:
        """The layers randomised, in order (top down): up to the `count`-th one kept."""
        found, kept = [], 0
        for name, module in reversed(list(self.wrapped.model.named_modules())):
            if hasattr(module, "reset_parameters") and kept < self.count:
                found.append(name)
                kept += bool(self.keep(name))
        return found

    @property
    def random_layer_generator_length(self) -> int:
        return len(self.names())

    def get_random_layer_generator(self, order: str = "top_down", seed: int = 42):
        wanted = len(self.names())
        for done, (name, model) in enumerate(self.wrapped.get_random_layer_generator(order=order, seed=seed)):
            if done >= wanted:
                return
            yield name, model


def top_layers_mprt(keep, count: int):
    """quantus.MPRT whose cascade stops after the top `count` layers that `keep` accepts (TopLayers)."""
    import quantus

    class TopLayersMPRT(quantus.MPRT):
        def general_preprocess(self, *args, **kwargs):
            data = super().general_preprocess(*args, **kwargs)
            data["model"] = TopLayers(data["model"], keep, count)
            return data
    return TopLayersMPRT


def summary(method: str, found: dict[str, np.ndarray]) -> dict:
    """`nnvis faithfulness --json`: the method and the mean of each measure over the observations
    (the randomisation similarity over those whose map is not constant)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a mean of nothing is NaN, said as such
        return {"method": method, **{name: float(np.nanmean(found[name])) for name in MEASURES}}
