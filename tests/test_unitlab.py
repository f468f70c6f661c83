"""Unit analyses (SPEC section 3 and top-k examples): tiny hand-built models and numpy
references with exact expected values, then the CLI on the digits run and on resnet18/CIFAR-10."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from nnvis import ablation as ab
from nnvis import unitlab
from nnvis.analysis import Analysis
from nnvis.capture import capture
from nnvis.cli import main
from nnvis.errors import NNVisError
from nnvis.models import LoadedModel
from nnvis.perturbation import perturbation
from nnvis.rules import difference_rule, intersection_rule, max_rule
from nnvis.similarity import class_cosine, layer_cosine
from nnvis.units import mean_of_top_k, sparsity, top_k, unit_histograms
from nnvis.workspace import Workspace
from tests.conftest import ROOT
from tests.tiny_models import OneHidden


class PatternNet(OneHidden):
    """2x2 grey images -> 2 ReLU units: unit 0 = relu(x0 - x1 - x2 + x3 - 1) answers only to the
    diagonal pattern P (255, 0 / 0, 255) with 1; unit 1 to its inverse Q the same way."""

    def __init__(self):
        super().__init__([[1.0, -1.0, -1.0, 1.0], [-1.0, 1.0, 1.0, -1.0]], [-1.0, -1.0])


class ThreeUnits(OneHidden):
    """1x3 grey images -> hidden = relu(pixels) (3 units) -> logits = hidden + (0, 0, 0.1)."""

    def __init__(self):
        eye = torch.eye(3).tolist()
        super().__init__(eye, [0.0, 0.0, 0.0], eye, [0.0, 0.0, 0.1])


# pixels /255: A (1, .2, 0), B (0, .4, .2), C (0, .2, .8), D (0, .6, .2)
THREE_IMAGES = np.array([[[255, 51, 0]], [[0, 102, 51]], [[0, 51, 204]], [[0, 153, 51]]], np.uint8)
THREE_LABELS = np.array([0, 1, 2, 2])


def loaded(module: nn.Module) -> LoadedModel:
    return LoadedModel(module, "test", 1)


# ---- top-k, histograms, sparsity

def test_unit_tuned_to_a_pattern_gets_exactly_that_patterns_images_as_top_k():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(24, 2, 2), dtype=np.uint8)
    pattern, inverse = np.array([[255, 0], [0, 255]], np.uint8), np.array([[0, 255], [255, 0]], np.uint8)
    images[[3, 7, 11, 15, 19]] = pattern
    images[[0, 22]] = inverse
    acts = capture(loaded(PatternNet()), images, ["hidden"])[0]["hidden"]
    assert top_k(acts, 0, k=5).tolist() == [3, 7, 11, 15, 19]     # equal activations: by index
    assert top_k(acts, 1, k=2).tolist() == [0, 22]
    assert acts[[3, 7, 11, 15, 19], 0].tolist() == [1.0] * 5 and acts[:, 0].max() == 1.0


def test_top_k_orders_by_activation_then_index_and_checks_its_input():
    acts = np.array([[0.5], [2.0], [0.5], [3.0], [2.0]])
    assert top_k(acts, 0, k=4).tolist() == [3, 1, 4, 0]
    with pytest.raises(NNVisError, match=r"^unit 1200 is out of range; layer hidden4 has 1 units \(0\.\.0\)$"):
        top_k(acts, 1200, layer="hidden4")
    with pytest.raises(NNVisError, match=r"k 6 is out of range; allowed: 1\.\.5"):
        top_k(acts, 0, k=6)


def test_unit_histograms_per_class_share_edges():
    acts = np.array([[0.0, 9], [1.0, 9], [2.0, 9], [3.0, 9], [4.0, 9]])
    found = unit_histograms(acts, 0, np.array([0, 0, 1, 1, 1]), 3, bins=2)
    assert found["edges"].tolist() == [0.0, 2.0, 4.0]
    assert found["counts"].tolist() == [[2, 0], [0, 3], [0, 0]]   # [0,2) and [2,4] (last bin closed)


def test_sparsity_counts_near_zero_alphas_overall_and_per_class():
    acts = np.array([[0.0, 0.005, 1.0, 3.0],
                     [0.0, 0.0, 0.0, 2.0],
                     [0.5, 0.02, 0.0, 0.0]])
    found = sparsity(acts, np.array([0, 0, 1]), 3, threshold=0.01, bins=3)
    assert found["near_zero"] == 7 / 12                      # 0, .005 / 0, 0, 0 / 0, 0
    assert found["class_near_zero"][:2].tolist() == [5 / 8, 2 / 4] and np.isnan(found["class_near_zero"][2])
    assert found["edges"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert found["counts"].tolist() == [9, 1, 2] and found["class_counts"].sum(axis=0).tolist() == [9, 1, 2]
    assert found["class_counts"][1].tolist() == [4, 0, 0]


def test_mean_of_top_k_is_the_numpy_mean_of_the_top_k_images():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, size=(40, 5, 6, 3), dtype=np.uint8)
    acts = rng.random((40, 7))
    best = np.argsort(-acts[:, 4])[:9]
    mean = mean_of_top_k(images, acts, 4)
    assert mean.shape == (5, 6, 3) and mean.dtype == np.float64
    np.testing.assert_array_equal(mean, np.mean(images[best].astype(np.float64), axis=0))
    assert mean_of_top_k(images, acts, 4, k=1).tolist() == images[best[0]].astype(float).tolist()
    with pytest.raises(NNVisError, match=r"39 images for 40 observations"):
        mean_of_top_k(images[:39], acts, 4)
    with pytest.raises(NNVisError, match=r"unit 7 is out of range"):
        mean_of_top_k(images, acts, 7)


def test_cluster_order_puts_the_similar_classes_side_by_side():
    # classes 0 and 2 are alike, 1 and 3 are alike, the pairs unrelated to each other
    matrix = np.array([[1, 0, .9, 0], [0, 1, 0, .8], [.9, 0, 1, 0], [0, .8, 0, 1]], float)
    order = unitlab.cluster_order(matrix).tolist()
    assert sorted(order) == [0, 1, 2, 3]
    assert abs(order.index(0) - order.index(2)) == 1 and abs(order.index(1) - order.index(3)) == 1
    assert unitlab.cluster_order(np.eye(2)).tolist() == [0, 1]


# ---- Shang's selection rules

RULE_ACTS = np.array([[9, 8, 7, 1, 0, 6],      # top-3: 0, 1, 2
                      [9, 1, 8, 7, 0, 2],      # top-3: 0, 2, 3
                      [0, 1, 8, 2, 9, 7]])     # top-3: 4, 2, 5


def test_max_rule_is_the_top_n_of_one_image_ties_to_the_lower_unit():
    assert max_rule(RULE_ACTS[0], 3).tolist() == [0, 1, 2]
    assert max_rule(np.array([1.0, 5.0, 5.0, 0.0]), 2).tolist() == [1, 2]
    with pytest.raises(NNVisError, match=r"n 7 is out of range; allowed: 1\.\.6"):
        max_rule(RULE_ACTS[0], 7)


def test_intersection_rule_keeps_units_in_every_top_n():
    assert intersection_rule(RULE_ACTS, 3).tolist() == [2]
    assert intersection_rule(RULE_ACTS[:2], 3).tolist() == [0, 2]
    assert intersection_rule(RULE_ACTS, 1).tolist() == []


def test_difference_rule_keeps_units_in_the_targets_top_n_only():
    assert difference_rule(RULE_ACTS, 0, 3).tolist() == [1]
    assert difference_rule(RULE_ACTS, 1, 3).tolist() == [3]
    assert difference_rule(RULE_ACTS, 2, 3).tolist() == [4, 5]
    assert difference_rule(RULE_ACTS[:1], 0, 2).tolist() == [0, 1]
    with pytest.raises(NNVisError, match=r"target 3 is out of range; the set has 3 images \(0\.\.2\)"):
        difference_rule(RULE_ACTS, 3, 3)


# ---- cosine similarity

def test_class_cosine_of_hand_made_class_means():
    # class means: 0 -> (1, 0), 1 -> (0, 2), 2 -> (3, 3)
    acts = np.array([[2.0, 0.0], [0.0, 0.0], [0.0, 1.0], [0.0, 3.0], [3.0, 3.0]])
    matrix = class_cosine(acts, np.array([0, 0, 1, 1, 2]), 4)
    h = 1 / np.sqrt(2)
    np.testing.assert_allclose(matrix[:3, :3], [[1, 0, h], [0, 1, h], [h, h, 1]], atol=1e-15)
    assert np.isnan(matrix[3]).all() and np.isnan(matrix[:, 3]).all()     # class 3 has no observation


def test_class_cosine_equals_numpy_reference_symmetric_with_unit_diagonal():
    rng = np.random.default_rng(1)
    acts, labels = rng.random((200, 30)).astype(np.float16), rng.integers(0, 6, 200)
    matrix = class_cosine(acts, labels, 6)
    means = np.stack([acts[labels == c].astype(np.float64).mean(axis=0) for c in range(6)])
    unit = means / np.linalg.norm(means, axis=1, keepdims=True)
    np.testing.assert_allclose(matrix, unit @ unit.T, rtol=1e-12)
    assert (matrix == matrix.T).all() and (np.diag(matrix) == 1.0).all()


def test_layer_cosine_per_observation_with_zero_vectors():
    a = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0], [0.0, 0.0], [2.0, 0.0]])
    b = np.array([[0.0, 5.0], [2.0, 2.0], [0.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    np.testing.assert_allclose(layer_cosine(a, b), [0.0, 1.0, 1.0, 0.0, -1.0], atol=1e-15)
    with pytest.raises(NNVisError, match="shapes"):
        layer_cosine(a, b[:2])


# ---- ablation

def test_zero_lowest_zeroes_whole_conv_channels_with_the_lowest_mean():
    means = torch.tensor([[1.0, -1.0, 0.5], [0.0, 2.0, 3.0], [1.0, 1.0, 2.0]])
    maps = means[:, :, None, None] + torch.tensor([[-1.0, 1.0], [2.0, -2.0]])   # spatial mean = `means`
    out = ab.zero_lowest(maps, 1)
    zeroed = [1, 0, 0]   # lowest channel of each image (image 2: tie 1.0/1.0 -> channel 0)
    for image, channel in enumerate(zeroed):
        assert (out[image, channel] == 0).all()
        kept = [c for c in range(3) if c != channel]
        assert torch.equal(out[image, kept], maps[image, kept])
    assert ab.zero_lowest(maps, 0) is maps
    assert (ab.zero_lowest(maps, 3) == 0).all()
    with pytest.raises(NNVisError, match=r"count 4 is out of range; layer this layer has 3 units"):
        ab.zero_lowest(maps, 4)


@pytest.mark.parametrize("mode, count, top1", [
    ("per-image", 0, 3 / 4),   # A, B, C right; D (0, .6, .2) + bias -> class 1, labelled 2
    ("per-image", 1, 3 / 4),   # the lowest unit of each image is already 0
    ("per-image", 2, 3 / 4),   # A (1,0,0) B (0,.4,0) C (0,0,.8) D (0,.6,0): still only D wrong
    ("per-image", 3, 2 / 4),   # logits = bias (0, 0, .1): class 2 for all, C and D right
    ("global", 1, 2 / 4),      # mean alpha (.25, .35, .30): unit 0 goes, A -> class 1
    ("global", 2, 1 / 4),      # units 0 and 2 go: everything -> class 1, only B right
    ("global", 3, 2 / 4),      # the bias alone
])
def test_ablation_of_hand_made_units(mode, count, top1):
    model = loaded(ThreeUnits())
    mean_alpha = capture(model, THREE_IMAGES, ["hidden"])[0]["hidden"].astype(np.float64).mean(axis=0)
    np.testing.assert_allclose(mean_alpha, [0.25, 0.35, 0.30], atol=1e-3)
    found = ab.ablate(model, THREE_IMAGES, THREE_LABELS, "hidden", mode=mode, count=count, mean_alpha=mean_alpha,
                      batch_size=3)
    assert found == {"top1": top1, "top5": 1.0}   # 3 classes: the top 5 holds every class


def test_fraction_to_count_and_checks():
    assert [ab.fraction_to_count(p, 1000) for p in (0, 0.2, 0.29, 0.999, 1)] == [0, 200, 290, 999, 1000]
    assert ab.fraction_to_count(1 / 3, 3) == 1
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(NNVisError, match=r"fraction .* is out of range; allowed: 0\.\.1"):
            ab.fraction_to_count(bad, 10)
    with pytest.raises(NNVisError, match="unknown ablation mode 'online'; allowed: per-image, global"):
        ab.check_mode("online")
    assert ab.lowest_units(np.array([3.0, 1.0, 2.0, 1.0]), 3).tolist() == [1, 2, 3]


def test_hooks_come_off_and_the_mode_is_restored_even_on_error():
    model = loaded(ThreeUnits())
    model.module.train()
    hidden = model.module.hidden
    with pytest.raises(NNVisError, match="count 5 is out of range; layer hidden has 3 units"):
        ab.ablate(model, THREE_IMAGES, THREE_LABELS, "hidden", mode="per-image", count=5)
    assert len(hidden._forward_hooks) == 0 and model.module.training
    ab.ablate(model, THREE_IMAGES, THREE_LABELS, "hidden", mode="per-image", count=1)
    assert len(hidden._forward_hooks) == 0 and model.module.training
    with pytest.raises(NNVisError, match="unknown layer 'hiden'"):
        ab.ablate(model, THREE_IMAGES, THREE_LABELS, "hiden", mode="per-image", count=1)


# ---- perturbation

def test_perturbation_matches_a_numpy_reference_with_the_same_noise():
    model = loaded(ThreeUnits())
    images = np.random.default_rng(2).integers(0, 256, size=(40, 1, 3), dtype=np.uint8)
    labels = np.random.default_rng(3).integers(0, 3, 40)
    found = perturbation(model, images, labels, ["flatten", "hidden"], variance=0.04, seed=5, batch_size=64)
    x = images.reshape(40, 3).astype(np.float32) / 255
    noisy = x + torch.randn((40, 1, 1, 3), generator=torch.Generator().manual_seed(5)).numpy().reshape(40, 3) * 0.2
    np.testing.assert_allclose(found["cosine"], [layer_cosine(x, noisy).mean(),
                                                 layer_cosine(np.maximum(x, 0), np.maximum(noisy, 0)).mean()],
                               rtol=1e-5)
    bias = np.array([0, 0, 0.1])
    assert found["top1_clean"] == np.mean((x + bias).argmax(axis=1) == labels)
    assert found["top1_noisy"] == np.mean((np.maximum(noisy, 0) + bias).argmax(axis=1) == labels)
    assert found["cosine"][0] < 1
    still = perturbation(model, images, labels, ["hidden"], variance=0.0)
    np.testing.assert_allclose(still["cosine"], [1.0], rtol=1e-12)
    assert still["top1_clean"] == still["top1_noisy"]
    with pytest.raises(NNVisError, match="noise variance -1 is out of range"):
        perturbation(model, images, labels, ["hidden"], variance=-1)


# ---- the digits workspace, through the backend and the CLI

def run_cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_ablating_every_unit_of_the_last_hidden_layer_leaves_the_output_bias(digits_workspace, capsys):
    analysis = Analysis(digits_workspace)
    epoch, last = analysis.epochs[-1], analysis.layers[-1]
    code, out, _ = run_cli(capsys, "ablate", "--workspace", str(digits_workspace.path), "--layer", last,
                           "--fraction", "1", "--json")
    assert code == 0
    found = json.loads(out)
    bias = analysis.workspace.load_snapshot(epoch)["output.bias"].numpy()
    labels = analysis.dataset.test_labels
    assert found["count"] == [1000] and found["units"] == 1000
    assert found["top1"] == [np.mean(labels == np.argmax(bias))]
    assert found["top5"] == [np.mean(np.isin(labels, np.argsort(-bias)[:5]))]
    code, out, _ = run_cli(capsys, "ablate", "--workspace", str(digits_workspace.path), "--layer", last,
                           "--mode", "global", "--count", "1000", "--json")
    assert json.loads(out)["top1"] == found["top1"]


def test_fraction_zero_leaves_accuracy_unchanged(digits_workspace):
    analysis = Analysis(digits_workspace)
    epoch, last = analysis.epochs[-1], analysis.layers[-1]
    model, x, y = analysis.model(epoch), analysis.dataset.test_images, analysis.dataset.test_labels
    intact = ab.accuracy(model, x, y)
    assert ab.ablate(model, x, y, last, mode="per-image", count=0) == intact
    assert ab.ablate(model, x, y, last, mode="global", count=0, mean_alpha=np.zeros(1000)) == intact
    # the same figure as `nnvis summary`, within one image (batching may move a near tie)
    assert abs(intact["top1"] - analysis.test_accuracy(epoch)) <= 1 / len(y)


def test_ablation_results_are_stored_and_reused(digits_workspace):
    analysis = Analysis(digits_workspace)
    first = unitlab.ablation_sweep(analysis, "hidden2", None, "per-image", fractions=[0.5, 0.9], on="subset")
    misses = analysis.store.misses
    again = unitlab.ablation_sweep(analysis, "hidden2", None, "per-image", fractions=[0.5, 0.9], on="subset")
    assert analysis.store.misses == misses
    assert again["top1"].tolist() == first["top1"].tolist() and first["count"].tolist() == [500, 900]
    key = analysis.key("ablation", layer="hidden2", epoch=analysis.epochs[-1], method="per-image", count=500,
                       on="subset")
    assert key in Analysis(digits_workspace).store
    unitlab.ablation(analysis, "hidden2", None, "global", 10, on="test")
    fresh = Analysis(digits_workspace)
    unitlab.ablation(fresh, "hidden2", None, "global", 10, on="test")
    assert fresh._dataset is None   # a stored result needs neither the data set nor the model
    assert fresh._models == {}


def test_unit_jobs_store_what_the_pages_read(digits_workspace):
    from nnvis.actmax import ActMaxParams, actmax_for
    from nnvis.jobs import run_job

    analysis, reports = Analysis(digits_workspace), []
    request = {"job": "ablation", "workspace": str(digits_workspace.path), "layer": "hidden1", "epoch": 2,
               "mode": "global", "on": "subset"}
    assert not unitlab.has_ablation_sweep(analysis, "hidden1", 2, "global", "subset")
    run_job(request, lambda *report: reports.append(report))
    assert reports[-1] == ("ablation sweep", 14, 14) and {stage for stage, _, _ in reports} == {"ablation sweep"}
    assert unitlab.has_ablation_sweep(analysis, "hidden1", 2, "global", "subset")
    misses = analysis.store.misses
    sweep = unitlab.ablation_sweep(analysis, "hidden1", 2, "global", on="subset")
    assert analysis.store.misses == misses and sweep["count"].tolist() == unitlab.sweep_counts(analysis, "hidden1", 2)
    params = ActMaxParams(steps=20, restarts=2)
    assert unitlab.stored_actmax(analysis, "hidden1", 2, 3, params) is None
    reports.clear()
    run_job({"job": "actmax", "workspace": str(digits_workspace.path), "layer": "hidden1", "epoch": 2, "unit": 3,
             "params": {"steps": 20, "restarts": 2}}, lambda *report: reports.append(report))
    assert reports[-1] == ("actmax", 20, 20)
    stored = unitlab.stored_actmax(analysis, "hidden1", 2, 3, params)
    assert stored.images.shape == (2, 8, 8) and stored.steps_done == 20
    assert (actmax_for(analysis, "hidden1", 2, 3, params).images == stored.images).all()


def test_actmax_settings_from_a_browser_keep_their_store_key():
    from nnvis.actmax import ActMaxParams

    sent = json.loads(json.dumps({"norm_percentile": 0, "blur_sigma": 1, "steps": 200, "learning_rate": 0.05}))
    params = unitlab.actmax_params(sent)   # JavaScript sends 0.0 as 0 and 1.0 as 1
    assert params.as_key() == ActMaxParams(blur_sigma=1.0).as_key()
    assert isinstance(params.as_key()["norm_percentile"], float) and isinstance(params.as_key()["steps"], int)
    with pytest.raises(NNVisError, match="unknown actmax setting"):
        unitlab.actmax_params({"stepz": 3})
    with pytest.raises(NNVisError, match="actmax steps must be >= 1, got 0"):
        unitlab.actmax_params({"steps": 0})


def test_unit_card_arrays_of_a_dense_unit(digits_workspace):
    analysis = Analysis(digits_workspace)
    acts = analysis.activations("hidden2", 2).astype(np.float64)
    best = np.argsort(-acts[:, 11], kind="stable")[:9]
    images = analysis.subset()["images"]
    np.testing.assert_array_equal(unitlab.top_mean_image(analysis, "hidden2", 2, 11),
                                  images[best].astype(np.float64).mean(axis=0))
    histogram = unitlab.unit_histogram(analysis, "hidden2", 2, 11, bins=5)
    assert histogram["counts"].sum() == len(acts) and histogram["counts"].shape == (10, 5)
    assert unitlab.unit_maps(analysis, "hidden2", 2, 11) is None     # a dense unit has no map


def test_topk_and_cosine_cli_agree_with_numpy(digits_workspace, capsys):
    analysis = Analysis(digits_workspace)
    acts = analysis.activations("hidden3", analysis.epochs[-1]).astype(np.float64)
    unit = int(acts.var(axis=0).argmax())
    code, out, _ = run_cli(capsys, "topk", "--workspace", str(digits_workspace.path), "--layer", "hidden3",
                           "--unit", str(unit), "--k", "5", "--json")
    assert code == 0
    found = json.loads(out)
    assert found["observations"] == np.argsort(-acts[:, unit], kind="stable")[:5].tolist()
    assert found["test_index"] == analysis.subset()["index"][found["observations"]].tolist()
    code, out, _ = run_cli(capsys, "cosine", "--workspace", str(digits_workspace.path), "--layer", "hidden3",
                           "--json")
    means = np.stack([acts[analysis.labels == c].mean(axis=0) for c in range(10)])
    unit_means = means / np.linalg.norm(means, axis=1, keepdims=True)
    np.testing.assert_allclose(json.loads(out)["cosine"], unit_means @ unit_means.T, rtol=1e-9)
    code, out, _ = run_cli(capsys, "cosine", "--workspace", str(digits_workspace.path), "--layer", "hidden3")
    assert code == 0 and out.splitlines()[0] == f"hidden3, epoch {analysis.epochs[-1]}: cosine of per-class mean " \
                                               "activations" and len(out.splitlines()) == 12


def test_select_sparsity_and_perturb_cli(digits_workspace, capsys):
    ws, analysis = str(digits_workspace.path), Analysis(digits_workspace)
    acts = analysis.activations("hidden4", analysis.epochs[-1])
    tops = [set(np.argsort(-acts[i].astype(np.float64), kind="stable")[:20].tolist()) for i in (4, 9, 12)]
    code, out, _ = run_cli(capsys, "select", "--workspace", ws, "--layer", "hidden4", "--rule", "intersection",
                           "--observations", "4,9,12", "--n", "20", "--json")
    assert code == 0 and json.loads(out)["units"] == sorted(tops[0] & tops[1] & tops[2])
    code, out, _ = run_cli(capsys, "select", "--workspace", ws, "--layer", "hidden4", "--rule", "difference",
                           "--observations", "4,9,12", "--target", "9", "--n", "20", "--json")
    assert json.loads(out)["units"] == sorted(tops[1] - tops[0] - tops[2])
    code, out, _ = run_cli(capsys, "select", "--workspace", ws, "--layer", "hidden4", "--rule", "max",
                           "--observations", "4", "--n", "3")
    assert out.strip() == "observation 4: units " + ", ".join(
        map(str, np.argsort(-acts[4].astype(np.float64), kind="stable")[:3]))
    code, out, _ = run_cli(capsys, "sparsity", "--workspace", ws, "--layer", "hidden4", "--json")
    assert json.loads(out)["near_zero"] == pytest.approx(np.mean(np.abs(acts.astype(np.float64)) <= 0.01))
    code, out, _ = run_cli(capsys, "perturb", "--workspace", ws, "--on", "subset", "--json")
    found = json.loads(out)
    assert code == 0 and found["layers"] == analysis.layers and len(found["cosine"]) == 4
    assert all(-1 <= c < 1 for c in found["cosine"])


@pytest.mark.parametrize("args, message", [
    (["topk", "--layer", "hidden9", "--unit", "0"],
     "layer 'hidden9' was not captured; allowed: input, hidden1, hidden2, hidden3, hidden4"),
    (["topk", "--layer", "hidden4", "--unit", "1200"],
     "unit 1200 is out of range; layer hidden4 has 1000 units (0..999)"),
    (["topk", "--layer", "hidden4", "--unit", "0", "--epoch", "7"], "epoch 7 was not recorded; allowed: 0, 1, 2"),
    (["ablate", "--layer", "hidden4", "--fraction", "1.5"], "fraction 1.5 is out of range; allowed: 0..1"),
    (["ablate", "--layer", "hidden4", "--fraction", "-0.2"], "fraction -0.2 is out of range; allowed: 0..1"),
    (["ablate", "--layer", "hidden4", "--count", "1001"],
     "count 1001 is out of range; layer hidden4 has 1000 units (allowed: 0..1000)"),
    (["ablate", "--layer", "hidden4", "--fraction", "0.2", "--mode", "offline"],
     "unknown ablation mode 'offline'; allowed: per-image, global"),
    (["ablate", "--layer", "input", "--fraction", "0.2"], "layer 'input' has no module to hook"),
    (["select", "--layer", "hidden4", "--rule", "max", "--observations", "0,300"],
     "observation 300 is outside the subset; allowed: 0..299"),
    (["select", "--layer", "hidden4", "--rule", "difference", "--observations", "1,2", "--target", "3"],
     "target 3 is not among the observations [1, 2]"),
    (["perturb", "--variance", "-1"], "noise variance -1.0 is out of range"),
])
def test_bad_input_is_one_line_and_exit_2(digits_workspace, capsys, args, message):
    code, out, err = run_cli(capsys, *args[:1], "--workspace", str(digits_workspace.path), *args[1:])
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"nnvis {args[0]}: error: ") and message in err, err


def test_bad_input_through_the_installed_command(digits_workspace):
    result = subprocess.run([sys.executable, "-m", "nnvis.cli", "topk", "--workspace", str(digits_workspace.path),
                             "--layer", "hidden4", "--unit", "1200"], capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "nnvis topk: error: unit 1200 is out of range; layer hidden4 has 1000 units (0..999)\n"


def test_unitlab_checks_before_any_computation(digits_workspace):
    analysis = Analysis(digits_workspace)
    with pytest.raises(NNVisError, match="unknown image set 'train'; allowed: test, subset"):
        unitlab.ablation(analysis, "hidden4", None, "per-image", 10, on="train")
    with pytest.raises(NNVisError, match="unknown rule 'union'; allowed: max, intersection, difference"):
        unitlab.select(analysis, "hidden4", None, "union", [0, 1])


# ---- torchvision resnet18 (random weights) on CIFAR-10 test images

@pytest.fixture(scope="module")
def resnet_workspace(cifar_npz, tmp_path_factory):
    """resnet18 with random weights on the shared CIFAR-10 test split: --epochs 0 (no training;
    the shared data has no train split anyway), 100 observations captured; `nnvis run` still
    measures accuracy on all 10,000 test images (about 20 s on two CPU cores)."""
    workspace = tmp_path_factory.mktemp("ws") / "resnet18"
    assert main(["run", "--dataset", "cifar10", "--data-dir", str(cifar_npz.parent), "--model", "resnet18",
                 "--epochs", "0", "--subset", "100", "--projection", "pca", "--layers", "layer3,layer4",
                 "--device", "cpu", "--workspace", str(workspace)]) == 0
    return Workspace(workspace)


def bias_only(bias: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Top-1 and top-5 accuracy of logits equal to `bias` for every image."""
    return np.mean(labels == np.argmax(bias)), np.mean(np.isin(labels, np.argsort(-bias)[:5]))


def test_topk_and_ablate_on_resnet18_cifar10(resnet_workspace, capsys):
    ws, analysis = str(resnet_workspace.path), Analysis(resnet_workspace)
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "topk", "--workspace", ws, "--layer", "layer4", "--unit", "7", "--json")
    assert code == 0
    acts = analysis.activations("layer4", 0).astype(np.float64)
    assert acts.shape == (100, 512)
    assert json.loads(out)["observations"] == np.argsort(-acts[:, 7], kind="stable")[:9].tolist()

    code, out, _ = run_cli(capsys, "ablate", "--workspace", ws, "--layer", "layer3", "--fraction", "0.2",
                           "--on", "subset", "--json")
    found = json.loads(out)
    assert code == 0 and found["units"] == 256 and found["count"] == [51]   # whole channels of (256, 2, 2)
    assert 0 <= found["top1"][0] <= found["top5"][0] <= 1
    # zero every channel of layer4: average pooling gives 0, so the logits are fc's bias alone
    code, out, _ = run_cli(capsys, "ablate", "--workspace", ws, "--layer", "layer4", "--sweep", "0,0.2,1",
                           "--on", "subset", "--json")
    found = json.loads(out)
    assert found["count"] == [0, 102, 512]
    top1, top5 = bias_only(analysis.workspace.load_snapshot(0)["fc.bias"].numpy(), analysis.labels)
    assert (found["top1"][2], found["top5"][2]) == (top1, top5)
    code, out, _ = run_cli(capsys, "ablate", "--workspace", ws, "--layer", "layer4", "--mode", "global",
                           "--count", "100", "--on", "subset")
    assert code == 0 and "global ablation of 512 units on the subset images" in out


def test_unit_maps_of_a_conv_unit_are_its_feature_maps_over_the_top_k(resnet_workspace):
    from nnvis.feature_maps import feature_maps

    analysis = Analysis(resnet_workspace)
    best = unitlab.top_examples(analysis, "layer3", 0, 17, 4)["observations"]
    maps = unitlab.unit_maps(analysis, "layer3", 0, 17, 4)
    expected = feature_maps(analysis.model(0), analysis.subset()["images"][best], "layer3")[:, 17]
    assert maps.shape == (4, 2, 2)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(maps.mean(axis=(1, 2)), analysis.activations("layer3", 0)[best, 17], rtol=2e-3,
                               atol=2e-3)   # alpha is the map's mean (stored as float16)


@pytest.mark.slow
def test_resnet18_ablation_on_the_whole_cifar10_test_split(resnet_workspace, capsys):
    """Two passes of resnet18 over 10,000 images on the CPU (about 30 s)."""
    code, out, _ = run_cli(capsys, "ablate", "--workspace", str(resnet_workspace.path), "--layer", "layer4",
                           "--fraction", "1", "--json")
    analysis = Analysis(resnet_workspace)
    top1, top5 = bias_only(analysis.workspace.load_snapshot(0)["fc.bias"].numpy(), analysis.dataset.test_labels)
    found = json.loads(out)
    assert code == 0 and (found["top1"][0], found["top5"][0]) == (top1, top5)
    assert found["baseline_top1"] == pytest.approx(analysis.test_accuracy(0), abs=1e-4)
