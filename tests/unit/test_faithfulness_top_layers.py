"""The randomisation check stops its cascade after the top 2 layers (issue 27: a resnet18 badge
took minutes because Quantus' MPRT re-initialised and re-explained every layer): the similarity
is the same as Quantus' full cascade gives after its 2nd layer, and only those layers are
randomised and explained."""

import numpy as np
import quantus
import torch
from quantus.helpers.model.pytorch_model import PyTorchModel
from torch import nn

from nnvis.deepvis.faithfulness import TOP_LAYERS, TopLayers, explain, top_layers_mprt


def small_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.ReLU(), nn.Linear(12, 8), nn.ReLU(),
                         nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 3)).eval()


def test_the_cascade_stops_after_the_top_layers_with_the_full_cascades_value():
    model = small_model()
    x = np.random.default_rng(0).uniform(size=(3, 1, 4, 4)).astype(np.float32)
    with torch.no_grad():
        y = model(torch.from_numpy(x)).argmax(1).numpy()
    maps = explain(model, x, y, method="gradient")
    options = dict(layer_order="top_down", similarity_func=quantus.similarity_func.correlation_spearman, abs=True,
                   normalise=True, disable_warnings=True, seed=0)
    call = dict(model=model, x_batch=x, y_batch=y, a_batch=maps, explain_func=explain,
                explain_func_kwargs={"method": "gradient"}, device="cpu", channel_first=True, batch_size=3)
    full = quantus.MPRT(**options)(**call)
    short = top_layers_mprt(lambda name: True, TOP_LAYERS)(**options)(**call)
    assert list(full) == ["original", "7", "5", "3", "1"]
    assert list(short) == ["original", "7", "5"]  # the layers below the top 2 are never explained again
    np.testing.assert_allclose(short["5"], full["5"], rtol=1e-12)
    assert TopLayers(PyTorchModel(model, channel_first=True, softmax=False, device="cpu"),
                     lambda name: name != "7", 2).names() == ["7", "5", "3"]  # a unit's: the top 2 that feed it
