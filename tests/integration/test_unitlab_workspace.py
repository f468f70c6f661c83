"""Unit analyses on real workspaces: stored results, the jobs behind the pages, and the CLI on
the digits run and on resnet18/CIFAR-10 (tiny hand-built models: test_unitlab.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from nnvis.cli.commands import main
from nnvis.errors import NNVisError
from nnvis.unitlab import ablation as ab
from nnvis.unitlab import lab as unitlab
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace
from tests.conftest import ROOT


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
    from nnvis.jobs import run_job
    from nnvis.unitlab.actmax import ActMaxParams, actmax_for

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
    from nnvis.unitlab.actmax import ActMaxParams

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
    from nnvis.models.feature_maps import feature_maps

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
