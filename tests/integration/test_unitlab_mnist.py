"""Shang et al.'s low-activation ablation on the trained MNIST MLP of the paper run (SPEC
section 3): removing the 20% lowest units of the last hidden layer for each image barely
changes top-1 accuracy; the sweep shows where it starts to fall. Figures are printed (-s)."""

import numpy as np
import pytest

from nnvis.unitlab import lab as unitlab
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.workspace import Workspace


@pytest.fixture(scope="module")
def paper(mnist_paper_workspace):
    """The paper run (MLP, 3 epochs), shared with test_mnist_paper.py."""
    return Analysis(Workspace(mnist_paper_workspace))


def print_sweep(title: str, sweep: dict) -> None:
    print(f"\n{title}: intact top-1 {sweep['baseline_top1']:.4f}, top-5 {sweep['baseline_top5']:.4f}")
    for count, top1, top5 in zip(sweep["count"], sweep["top1"], sweep["top5"]):
        print(f"  zero {count:4d}/{sweep['units']}  top-1 {top1:.4f} ({(top1 - sweep['baseline_top1']) * 100:+.2f} "
              f"points)  top-5 {top5:.4f}")
    print(f"  top-1 first falls by more than 1 point at {unitlab.first_drop(sweep)} units")


def test_per_image_removal_of_the_lowest_fifth_keeps_top1_within_one_point(paper):
    last = paper.layers[-1]
    sweep = unitlab.ablation_sweep(paper, last, None, "per-image", fractions=[0.2])
    print_sweep(f"per-image ablation of 20% of {last}", sweep)
    assert sweep["count"].tolist() == [200] and sweep["baseline_top1"] >= 0.96  # 0.9749 or 0.9681 on two machines
    assert abs(sweep["top1"][0] - sweep["baseline_top1"]) < 0.01


def test_ablation_sweep_shows_where_accuracy_falls(paper):
    last, epoch = paper.layers[-1], paper.epochs[-1]
    per_image = unitlab.ablation_sweep(paper, last, None, "per-image")
    global_ = unitlab.ablation_sweep(paper, last, None, "global")
    print_sweep(f"per-image sweep of {last}", per_image)
    print_sweep(f"global sweep of {last}", global_)
    bias = paper.workspace.load_snapshot(epoch)["output.bias"].numpy()
    bias_only = np.mean(paper.dataset.test_labels == np.argmax(bias))
    for sweep in (per_image, global_):
        assert sweep["fraction"][-1] == 1 and sweep["top1"][-1] == bias_only
        drop = unitlab.first_drop(sweep)
        assert drop is not None and drop > 200   # it falls, and later than the 20% Shang removes


def test_input_noise_of_variance_001_barely_moves_the_activations(paper):
    found = unitlab.perturbation(paper, None)
    print(f"\nGaussian noise (variance 0.01): top-1 {found['top1_clean']:.4f} -> {found['top1_noisy']:.4f}; "
          "mean cosine clean/noisy: " + ", ".join(f"{layer} {c:.4f}" for layer, c in
                                                  zip(found["layers"], found["cosine"])))
    assert found["top1_clean"] == unitlab.ablation(paper, paper.layers[-1], None, "per-image", 0)["top1"]
    assert np.all((found["cosine"] > 0.9) & (found["cosine"] < 1))
    assert abs(found["top1_noisy"] - found["top1_clean"]) < 0.01
