"""The unit lab's synthetic-vs-natural comparison (issue 27, item 5), on a small CNN trained on
digits: the activations it shows for the top natural exemplars and for the stored
activation-maximization images equal the unit's activation computed by hand (a forward hook on
the layer, the channel's mean over its map), and the ratio is the ratio of their means."""

import numpy as np
import torch

from layouts.unit_figures import ACTMAX_INPUTS
from nnvis.deepvis.grid import model_input
from nnvis.unitlab.actmax import ActMaxParams, actmax_for
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.integration.test_concept_heat import app_context  # noqa: F401 (a request of an app over it)
from tests.integration.test_trust_badges import cnn_workspace  # noqa: F401 (the module's workspace)

LAYER, EPOCH, UNIT, K = "conv2", 2, 3, 6
PARAMS = ActMaxParams(steps=20, restarts=2)


def by_hand(analysis, images) -> np.ndarray:
    """The mean of channel UNIT of conv2's output for each uint8 image."""
    model = analysis.model(EPOCH)
    found = []
    handle = model.module.conv2.register_forward_hook(lambda _m, _i, out: found.append(out.detach()))
    try:
        with torch.no_grad():
            for image in images:
                model.module.eval()(model_input(model, image))
    finally:
        handle.remove()
    return np.array([float(out[0, UNIT].mean()) for out in found])


def cells(table, cls) -> list[float]:
    return [float(span.children) for row in table.children for span in row.children
            if cls in (getattr(span, "className", None) or "")]




def test_natural_and_synthetic_activations_are_the_units_own(cnn_workspace, app_context):  # noqa: F811
    from callbacks.unit_exemplars import exemplars_view

    analysis = Analysis(Workspace(cnn_workspace))
    values = [getattr(PARAMS, field) for _, _, field, _ in ACTMAX_INPUTS]
    top = analysis.subset()["images"][np.argsort(-analysis.activations(LAYER, EPOCH)[:, UNIT], kind="stable")[:K]]
    natural_by_hand = by_hand(analysis, top)
    with app_context():
        pictures, table, ratio = exemplars_view(0, LAYER, EPOCH, UNIT, K, values)
        assert cells(table, "synthetic-value") == []  # not run yet: the natural side alone
        np.testing.assert_allclose(cells(table, "natural-value"), natural_by_hand, rtol=1e-3, atol=1e-4)
        assert "run activation maximization" in ratio.children
        assert len(pictures.children) == 4  # the top natural exemplars pictured by default

        result = actmax_for(analysis, LAYER, EPOCH, UNIT, PARAMS)
        pictures, table, ratio = exemplars_view(0, LAYER, EPOCH, UNIT, K, values)
    synthetic = cells(table, "synthetic-value")
    np.testing.assert_allclose(synthetic, by_hand(analysis, result.images), rtol=1e-3, atol=1e-4)
    assert len(synthetic) == 2 and len(pictures.children) == 4
    expected_ratio = np.mean(result.activations) / np.mean(natural_by_hand)
    assert f"ratio synthetic / natural {expected_ratio:.3g}×" in ratio.children


def test_a_unit_out_of_range_is_one_line(app_context):  # noqa: F811
    from callbacks.unit_exemplars import show_exemplars

    values = [getattr(PARAMS, field) for _, _, field, _ in ACTMAX_INPUTS]
    with app_context():
        shown = show_exemplars(0, LAYER, EPOCH, 99, K, None, *values)
    assert shown[0].children == "unit 99 is out of range; layer conv2 has 16 units (0..15)"
