"""The GPU projection path (torchdr), run on the CPU here; `-m gpu` runs it on a CUDA device."""

import numpy as np
import pytest
import torch

from nnvis.projection.gpu import torchdr_project, uses_gpu_engine
from nnvis.projection.methods import project
from nnvis.projection.metrics import neighborhood_hit

GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_only_tsne_and_umap_on_a_cuda_device_go_to_torchdr():
    assert uses_gpu_engine("tsne", "cuda") and uses_gpu_engine("umap", "cuda:1")
    assert not uses_gpu_engine("pca", "cuda")
    assert not uses_gpu_engine("tsne", "cpu") and not uses_gpu_engine("umap", "cpu")


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_torchdr_separates_well_separated_blobs_on_the_cpu(blobs, method):
    x, labels = blobs
    points = torchdr_project(x, method, device="cpu", max_iter=250)
    assert points.shape == (150, 2) and points.dtype == np.float32 and np.isfinite(points).all()
    assert neighborhood_hit(points, labels).mean() >= 0.98  # torchdr is not fully seeded: 0.997 to 1.0 seen


@pytest.mark.slow
def test_torchdr_tsne_matches_opentsne_neighborhood_hit_on_mnist(mnist_dir):
    """On 1,000 MNIST test digits (pixels): InfoTSNE's NH within 0.05 of openTSNE's (measured
    0.802 vs 0.786)."""
    from nnvis.data.datasets import load_dataset

    data = load_dataset("mnist", str(mnist_dir))
    x = data.test_images[:1000].reshape(1000, -1).astype(np.float32) / 255
    y = data.test_labels[:1000]
    reference = neighborhood_hit(project(x, "tsne"), y).mean()
    assert abs(neighborhood_hit(torchdr_project(x, "tsne", device="cpu"), y).mean() - reference) < 0.05


@GPU
@pytest.mark.gpu
@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_gpu_projection_of_10k_mnist_digits_is_as_good_as_the_cpu_one(mnist_dir, method):
    from nnvis.data.datasets import load_dataset

    data = load_dataset("mnist", str(mnist_dir))
    x = data.test_images.reshape(len(data.test_images), -1).astype(np.float32) / 255
    y = data.test_labels
    gpu = project(x, method, device="cuda")
    cpu = project(x, method)
    assert abs(neighborhood_hit(gpu, y).mean() - neighborhood_hit(cpu, y).mean()) < 0.02


@GPU
@pytest.mark.gpu
def test_capture_on_the_gpu_matches_the_cpu():
    import torchvision

    from nnvis.models.activations import capture
    from nnvis.models.zoo import LoadedModel

    torch.manual_seed(0)
    model = LoadedModel(torchvision.models.resnet18(num_classes=10), "resnet18", in_channels=3)
    images = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    on_cpu, p_cpu = capture(model, images, ["layer2", "layer4"], batch_size=16)
    on_gpu, p_gpu = capture(model, images, ["layer2", "layer4"], device="cuda")
    for layer in on_cpu:
        np.testing.assert_allclose(on_gpu[layer].astype(np.float32), on_cpu[layer].astype(np.float32),
                                   rtol=0.02, atol=0.02)
    np.testing.assert_allclose(p_gpu, p_cpu, atol=1e-3)
