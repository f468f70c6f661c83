"""The one eval-mode context and the one forward-hook helper (nnvis.models.hooks), on a tiny
model with hand-checked values, and every analysis that uses them giving back the model as it was."""

import numpy as np
import pytest
import torch

from nnvis.deepvis.grid import layer_grid
from nnvis.errors import NNVisError
from nnvis.models.activations import capture
from nnvis.models.feature_maps import layer_outputs, map_layers
from nnvis.models.hooks import collected_outputs, eval_mode, forward_hooks
from nnvis.models.zoo import LoadedModel
from nnvis.unitlab.ablation import accuracy
from nnvis.unitlab.perturbation import perturbation
from tests.tiny_models import TwoByTwo

# TwoByTwo: x = (3, 1) -> hidden = relu([3 - 1 + 0, 2 * 3 + 1]) = (2, 7) -> output = identity = (2, 7)
X = torch.tensor([[[[3.0, 1.0]]]])


def mixed() -> TwoByTwo:
    """A model in training whose hidden block (Linear, ReLU) is kept in eval, as one keeps a
    dropout or a batch norm frozen while fine-tuning the rest."""
    model = TwoByTwo().train()
    model.hidden.eval()
    return model


def flags(model: torch.nn.Module) -> dict[str, bool]:
    return {name: part.training for name, part in model.named_modules()}


def no_hooks(model: torch.nn.Module) -> bool:
    return all(not part._forward_hooks and not part._forward_pre_hooks for part in model.modules())


def test_eval_mode_switches_every_part_to_eval_and_restores_each_flag():
    model = mixed()
    before = flags(model)
    assert before == {"": True, "flatten": True, "hidden": False, "hidden.0": False, "hidden.1": False,
                      "output": True}
    with eval_mode(model) as inside:
        assert inside is model
        assert not any(flags(model).values())
    assert flags(model) == before


def test_eval_mode_restores_each_flag_after_an_exception():
    model = mixed()
    before = flags(model)
    with pytest.raises(RuntimeError), eval_mode(model):
        model(torch.zeros(1, 1, 1, 3))  # 3 features into a 2-input layer
    assert flags(model) == before


def test_forward_hooks_see_the_outputs_and_are_removed():
    model = TwoByTwo()
    seen = {}
    with forward_hooks(model, {"hidden": lambda out: seen.__setitem__("hidden", out.detach().clone()),
                               "output": lambda out: seen.__setitem__("output", out.detach().clone())}):
        model(X)
        assert model.hidden._forward_hooks and model.output._forward_hooks
    assert seen["hidden"].tolist() == [[2.0, 7.0]]
    assert seen["output"].tolist() == [[2.0, 7.0]]
    assert no_hooks(model)


def test_a_hook_that_returns_a_tensor_replaces_the_output():
    model = TwoByTwo()
    with forward_hooks(model, {"hidden": lambda out: out * torch.tensor([0.0, 10.0])}):
        assert model(X).tolist() == [[0.0, 70.0]]
    assert model(X).tolist() == [[2.0, 7.0]]  # removed: the plain forward again


def test_pre_hooks_see_the_first_input_and_cannot_replace_it():
    model = TwoByTwo()
    seen = {}
    with forward_hooks(model, {"output": lambda x: seen.setdefault("output", x.clone()) * 0}, inputs=True):
        assert model(X).tolist() == [[2.0, 7.0]]
    assert seen["output"].tolist() == [[2.0, 7.0]]  # the output layer's input: the hidden activations
    assert no_hooks(model)


def test_hooks_are_removed_after_an_exception_and_an_unknown_layer_registers_none():
    model = TwoByTwo()
    with pytest.raises(RuntimeError), forward_hooks(model, {"hidden": lambda out: None}):
        model(torch.zeros(1, 1, 1, 3))  # 3 features into a 2-input layer
    assert no_hooks(model)
    with pytest.raises(NNVisError, match="hiden"), forward_hooks(model, {"hidden": print, "hiden": print}):
        pass
    assert no_hooks(model)


def test_collected_outputs_keep_every_call_in_order():
    model = TwoByTwo()
    with collected_outputs(model, ["hidden"]) as outputs:
        model(X)
        model(torch.tensor([[[[1.0, 3.0]]]]))  # (1 - 3, 2 + 1) -> relu (0, 3)
    assert [o.tolist() for o in outputs["hidden"]] == [[[2.0, 7.0]], [[0.0, 3.0]]]
    assert no_hooks(model)


def test_layer_outputs_of_a_mixed_model_are_exact_and_leave_no_hook():
    model = mixed()
    outputs = layer_outputs(model, X, ["hidden.0", "hidden"])
    assert outputs["hidden.0"].tolist() == [[2.0, 7.0]]
    with torch.no_grad():
        inputs = layer_outputs(model, X, ["output"], inputs=True)
    assert inputs["output"].tolist() == [[2.0, 7.0]]
    assert no_hooks(model)


IMAGES = np.array([[[255, 0]], [[0, 255]]], np.uint8)  # pixels (1, 0) -> hidden (1, 3); (0, 1) -> (0, 1)
LABELS = np.array([1, 1])


@pytest.mark.parametrize("run", [
    pytest.param(lambda m: capture(m, IMAGES, ["hidden"]), id="capture"),
    pytest.param(lambda m: accuracy(m, IMAGES, LABELS, edit={"hidden": lambda out: out}), id="ablation"),
    pytest.param(lambda m: perturbation(m, IMAGES, LABELS, ["hidden"], variance=0.0), id="perturbation"),
    pytest.param(lambda m: map_layers(m, (1, 2)), id="map_layers"),
    pytest.param(lambda m: layer_grid(m, torch.tensor([[[[1.0, 0.0]]]]), "hidden"), id="grid"),
])
def test_every_analysis_gives_back_each_submodule_flag(run):
    """Before the one eval-mode context, an analysis restored only the root's flag, putting the
    parts kept in eval back into training."""
    model = mixed()
    before = flags(model)
    run(LoadedModel(model, "tiny", 1))
    assert flags(model) == before
    assert no_hooks(model)


def test_the_analyses_read_the_hand_computed_values_through_the_hooks():
    acts, _ = capture(LoadedModel(mixed(), "tiny", 1), IMAGES, ["hidden"])
    np.testing.assert_array_equal(acts["hidden"], np.array([[1, 3], [0, 1]], np.float16))
    # logits = hidden: (1, 3) and (0, 1) both predict class 1; zeroing unit 1 leaves (1, 0) and (0, 0)
    assert accuracy(LoadedModel(mixed(), "tiny", 1), IMAGES, LABELS)["top1"] == 1.0
    edited = accuracy(LoadedModel(mixed(), "tiny", 1), IMAGES, LABELS,
                      edit={"hidden": lambda out: out * torch.tensor([1.0, 0.0])})
    assert edited["top1"] == 0.0  # (1, 0) predicts 0; (0, 0) ties, argmax takes the first: 0
