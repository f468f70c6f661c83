"""Observations drawn from the test split alone or from test + train, on scikit-learn's digits
(540 test + 1,257 train images) and MNIST's test files."""

import csv
import io
import json

import numpy as np
import pytest

from nnvis.data.datasets import load_dataset
from nnvis.errors import NNVisError
from nnvis.workspace.analysis import Analysis, subset_indices, take_from_pool
from nnvis.workspace.pipeline import prepare
from nnvis.workspace.workspace import MANIFEST, RunConfig, Workspace
from tests.integration.test_cli import nnvis, one_line_error

N_TEST, N_TRAIN = 540, 1257


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def all_workspace(tmp_path_factory):
    """`nnvis run --observations all --subset all` on digits: the command's result and workspace."""
    path = tmp_path_factory.mktemp("observations") / "all"
    result = nnvis("run", "--dataset", "digits", "--model", "mlp", "--epochs", "1", "--layers", "hidden4",
                   "--observations", "all", "--subset", "all", "--projection", "pca", "--device", "cpu",
                   "--workspace", str(path))
    return result, Workspace(path)


def prepared(tmp_path, **settings) -> Analysis:
    """An Analysis over a workspace prepared (not trained) on digits with `settings`."""
    config = RunConfig(dataset="digits", model="mlp", epochs=0, layers="hidden4", device="cpu", **settings)
    workspace = Workspace(tmp_path / "_".join(f"{k}{v}" for k, v in settings.items()))
    return Analysis(workspace, dataset=prepare(config, workspace))


def test_cli_run_over_test_and_train(all_workspace):
    result, workspace = all_workspace
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{N_TEST + N_TRAIN} observations of test + train" in result.stdout
    config = workspace.config()
    assert config.observations == "all" and config.subset == N_TEST + N_TRAIN


def test_subset_is_the_test_split_followed_by_the_train_split(all_workspace, digits):
    subset = Analysis(all_workspace[1]).subset()
    np.testing.assert_array_equal(subset["index"], np.arange(N_TEST + N_TRAIN))
    np.testing.assert_array_equal(subset["split"], np.repeat(np.uint8([0, 1]), [N_TEST, N_TRAIN]))
    np.testing.assert_array_equal(subset["images"], np.concatenate([digits.test_images, digits.train_images]))
    np.testing.assert_array_equal(subset["labels"], np.concatenate([digits.test_labels, digits.train_labels]))


def test_a_sample_of_the_pool_takes_each_image_from_its_split(digits):
    index = subset_indices(N_TEST + N_TRAIN, 200, seed=3, observations="all")
    taken = take_from_pool(digits, "all", index)
    assert 0 < taken["split"].sum() < 200  # both splits are drawn from
    for row in (0, 1, 99, 100, 198, 199):
        i, split = int(index[row]), taken["split"][row]
        source, number = (digits.test_images, i) if i < N_TEST else (digits.train_images, i - N_TEST)
        assert split == (i >= N_TEST)
        np.testing.assert_array_equal(taken["images"][row], source[number])
    np.testing.assert_array_equal(taken["labels"], np.concatenate([digits.test_labels, digits.train_labels])[index])


def test_keys_name_the_pool_and_test_keys_are_unchanged(tmp_path, all_workspace):
    test = prepared(tmp_path, subset=50)
    assert test.key("subset").subset == "test-50-seed0"
    everything = Analysis(all_workspace[1])
    assert everything.key("subset").subset == f"all-{N_TEST + N_TRAIN}-seed0"
    same_size = prepared(tmp_path, observations="all", subset=50)
    assert same_size.key("subset").subset == "all-50-seed0"
    assert same_size.key("projection", layer="input").digest() != test.key("projection", layer="input").digest()
    assert same_size.subset()["split"].any() and not test.subset()["split"].any()


def test_workspace_without_observations_loads_as_test(tmp_path, digits):
    analysis = prepared(tmp_path, subset=40)
    manifest = json.loads(analysis.workspace.manifest_path.read_text())
    del manifest["config"]["observations"]
    (analysis.workspace.path / MANIFEST).write_text(json.dumps(manifest))
    old = Analysis(Workspace(analysis.workspace.path), dataset=digits)
    assert old.config.observations == "test" and old.key("subset") == analysis.key("subset")
    index = subset_indices(N_TEST, 40, 0)
    old.store.put(old.key("subset"), {"images": digits.test_images[index], "labels": digits.test_labels[index],
                                      "index": index})  # a subset stored before it had a split
    np.testing.assert_array_equal(old.subset()["split"], np.zeros(40, np.uint8))


def test_csv_export_says_each_observations_split(all_workspace, monkeypatch):
    from callbacks.views import export_table

    monkeypatch.setenv("NNVIS_WORKSPACES", str(all_workspace[1].path))
    lines = export_table(0, "hidden4", 1, "pca")["content"].splitlines()
    rows = list(csv.DictReader(io.StringIO("\n".join(lines[1:]))))
    assert lines[1].endswith(",neighborhood_hit,split") and len(rows) == N_TEST + N_TRAIN
    assert all(row["split"] == ("test" if int(row["test_index"]) < N_TEST else "train") for row in rows)
    assert sum(row["split"] == "train" for row in rows) == N_TRAIN


@pytest.mark.parametrize("settings, needles", [
    ({"observations": "both"}, ["unknown observations 'both'", "allowed: test, all"]),
    ({"observations": "all", "subset": 2000}, ["--subset 2000", "test + train (1797 observations)", "1..1797 or all"]),
    ({"subset": 600}, ["--subset 600", "the test split (540 observations)", "1..540 or all"]),
    ({"subset": "most"}, ["--subset 'most'", "a whole number or 'all'"]),
])
def test_bad_observations_and_subset(tmp_path, settings, needles):
    with pytest.raises(NNVisError) as error:
        prepared(tmp_path, **settings)
    assert all(needle in str(error.value) for needle in needles), str(error.value)


def test_all_needs_a_train_split(tmp_path, mnist_dir):
    test_only = tmp_path / "mnist-test-only"
    test_only.mkdir()
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (test_only / name).symlink_to(mnist_dir / name)
    config = RunConfig(dataset="mnist", data_dir=str(test_only), model="mlp", epochs=0, observations="all")
    with pytest.raises(NNVisError, match="--observations all needs a train split.*10000 test images"):
        prepare(config, Workspace(tmp_path / "w"))


def test_cli_bad_observations_is_one_line_exit_2(tmp_path):
    result = nnvis("run", "--dataset", "digits", "--model", "mlp", "--epochs", "0", "--observations", "train",
                   "--workspace", str(tmp_path / "w"))
    one_line_error(result, "unknown observations 'train'", "allowed: test, all")
