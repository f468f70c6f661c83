"""Tests for nnvis.data.datasets: real data (bundled digits, shared MNIST/CIFAR-10) and tiny files."""

import ast
import gzip
import hashlib
import struct
from pathlib import Path

import numpy as np
import pytest

from nnvis.data.datasets import DATASETS, ImageDataset, load_dataset, read_idx, seeded_split
from nnvis.errors import NNVisError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def shared(sub: str) -> Path:
    path = SHARED / sub
    if not path.exists():
        pytest.skip(f"shared data {path} not available")
    return path


def idx_bytes(array: np.ndarray, code: int) -> bytes:
    """Encode `array` as IDX (big-endian) with dtype `code`."""
    dtypes = {0x08: ">u1", 0x0C: ">i4", 0x0D: ">f4"}
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtypes[code]).tobytes()


def write_idx(path: Path, array: np.ndarray, code: int = 0x08) -> Path:
    data = idx_bytes(array, code)
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


def tiny_split(n: int, seed: int, shape=(4, 5)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, *shape), dtype=np.uint8), rng.integers(0, 3, n).astype(np.int64)


# --- digits (bundled with scikit-learn) -------------------------------------------------------

def test_digits_split_shape_and_stable_id():
    first, second = load_dataset("digits"), load_dataset("digits", seed=123)
    assert len(first.test_labels) == 540 and len(first.train_labels) == 1797 - 540
    assert first.image_shape == (8, 8) and first.channels == 1 and first.n_classes == 10
    assert first.classes == tuple(str(i) for i in range(10))
    assert set(first.test_labels.tolist()) == set(range(10))
    assert first.test_images.dtype == np.uint8 and first.test_labels.dtype == np.int64
    assert first.test_images.max() == 255 and first.test_images.flags.c_contiguous
    assert first.id.startswith("digits-") and len(first.id) == len("digits-") + 12
    assert first.id == second.id  # the split ignores the seed argument
    np.testing.assert_array_equal(first.test_images, second.test_images)


def test_seeded_split_is_a_seeded_permutation():
    x, y = np.arange(10)[:, None], np.arange(10)
    tx, ty, vx, vy = seeded_split(x, y, 0.3, seed=5)
    assert len(vy) == 3 and len(ty) == 7
    assert sorted(np.concatenate([ty, vy]).tolist()) == list(range(10))
    np.testing.assert_array_equal(tx[:, 0], ty)
    np.testing.assert_array_equal(seeded_split(x, y, 0.3, seed=5)[3], vy)
    for fraction in (0, 1, 1.5):
        with pytest.raises(NNVisError, match="test fraction"):
            seeded_split(x, y, fraction, seed=0)
    with pytest.raises(NNVisError, match="labels"):
        seeded_split(x, y[:5], 0.5, seed=0)


# --- IDX ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["tiny-idx3-ubyte", "tiny-idx3-ubyte.gz"])
def test_read_idx_round_trips_raw_and_gzipped(tmp_path, name):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4) * 10
    result = read_idx(write_idx(tmp_path / name, images))
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, images)


def test_read_idx_big_endian_int32_and_float32(tmp_path):
    ints = np.array([[-2, 70000], [3, 0]], dtype=np.int32)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "i", ints, 0x0C)), ints)
    floats = np.array([0.5, -1.25], dtype=np.float32)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "f.gz", floats, 0x0D)), floats)


@pytest.mark.parametrize("content", [
    b"not an idx file at all",
    b"\x00\x00\x08\x01",  # header cut short
    idx_bytes(np.zeros((2, 3), np.uint8), 0x08)[:-1],  # truncated data
    b"\x1f\x8b\x08\x00broken gzip",
    b"",
])
def test_read_idx_rejects_corrupt_files(tmp_path, content):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(NNVisError, match="bad-idx1-ubyte"):
        read_idx(path)


def test_read_idx_missing_file(tmp_path):
    with pytest.raises(NNVisError, match="nope"):
        read_idx(tmp_path / "nope")


def test_idx_dataset_from_generic_names(tmp_path):
    x, y = tiny_split(6, 0)
    tx, ty = tiny_split(9, 1)
    write_idx(tmp_path / "my-test-images.gz", x)
    write_idx(tmp_path / "my-test-labels", y)
    write_idx(tmp_path / "my-train-images", tx)
    write_idx(tmp_path / "my-train-labels.gz", ty)
    (tmp_path / "README.txt").write_text("not data")
    ds = load_dataset("idx", tmp_path)
    np.testing.assert_array_equal(ds.test_images, x)
    np.testing.assert_array_equal(ds.train_labels, ty)
    assert ds.classes == ("0", "1", "2") and ds.id.startswith("idx-")


def test_idx_dataset_without_test_files(tmp_path):
    write_idx(tmp_path / "train-images", tiny_split(3, 0)[0])
    with pytest.raises(NNVisError, match="t10k' or 'test'"):
        load_dataset("idx", tmp_path)


# --- MNIST ----------------------------------------------------------------------------------------

def test_mnist_from_shared_data():
    root = shared("mnist")
    raw = gzip.decompress((root / "t10k-images-idx3-ubyte.gz").read_bytes())
    assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"
    ds = load_dataset("mnist", root)
    assert ds.test_images.shape == (10000, 28, 28) and ds.image_shape == (28, 28)
    assert ds.test_labels[0] == 7 and ds.n_classes == 10
    train_x, train_y = ds.require_train()
    assert train_x.shape == (60000, 28, 28) and train_y.shape == (60000,)
    np.testing.assert_array_equal(ds.test_images.reshape(-1), np.frombuffer(raw, np.uint8, offset=16))
    assert ds.id.startswith("mnist-")


def test_mnist_like_in_torchvision_layout_without_train(tmp_path):
    raw = tmp_path / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    x, y = tiny_split(5, 2, shape=(28, 28))
    write_idx(raw / "t10k-images-idx3-ubyte", x)
    write_idx(raw / "t10k-images-idx3-ubyte.gz", x + 1)  # torchvision keeps both; raw wins
    write_idx(raw / "t10k-labels-idx1-ubyte.gz", y)
    ds = load_dataset("fashion-mnist", tmp_path)
    np.testing.assert_array_equal(ds.test_images, x)
    assert ds.classes[0] == "T-shirt/top" and ds.classes[9] == "Ankle boot"
    assert ds.train_images is None
    with pytest.raises(NNVisError, match="fashion-mnist"):
        ds.require_train()


def test_mnist_missing_files_and_dirs(tmp_path):
    with pytest.raises(NNVisError, match=r"t10k-images-idx3-ubyte\[\.gz\].*--download"):
        load_dataset("mnist", tmp_path)
    with pytest.raises(NNVisError, match="needs a data directory"):
        load_dataset("mnist")
    with pytest.raises(NNVisError, match="does not exist"):
        load_dataset("mnist", tmp_path / "missing")


# --- CIFAR-10 -------------------------------------------------------------------------------------

def test_cifar10_from_shared_npz_has_no_train():
    ds = load_dataset("cifar10", shared("cifar10"))
    assert ds.test_images.shape == (10000, 32, 32, 3) and ds.image_shape == (32, 32, 3)
    assert ds.channels == 3 and ds.n_classes == 10 and ds.classes[0] == "airplane"
    assert ds.test_labels.dtype == np.int64 and ds.test_images.flags.c_contiguous
    with pytest.raises(NNVisError, match="cifar10.*no train split"):
        ds.require_train()


def test_cifar10_npz_with_train_file(tmp_path):
    x, y = tiny_split(4, 3, shape=(32, 32, 3))
    tx, ty = tiny_split(6, 4, shape=(32, 32, 3))
    np.savez(tmp_path / "cifar10_test.npz", x=x, y=y)
    np.savez(tmp_path / "cifar10_train.npz", x=tx, y=ty)
    ds = load_dataset("cifar10", tmp_path)
    assert ds.classes[9] == "truck"
    np.testing.assert_array_equal(ds.require_train()[1], ty)


def test_cifar10_missing(tmp_path):
    with pytest.raises(NNVisError, match="CIFAR10 test split not found.*--download"):
        load_dataset("cifar10", tmp_path)


# --- npz ------------------------------------------------------------------------------------------

def test_npz_with_train_and_test_arrays(tmp_path):
    x, y = tiny_split(5, 0)
    tx, ty = tiny_split(8, 1)
    path = tmp_path / "data.npz"
    np.savez(path, x_train=tx, y_train=ty, x_test=x, y_test=y, classes=np.array(["a", "b", "c"]))
    ds = load_dataset("npz", path)
    np.testing.assert_array_equal(ds.test_images, x)
    np.testing.assert_array_equal(ds.train_labels, ty)
    assert ds.classes == ("a", "b", "c") and ds.id.startswith("npz-")
    assert load_dataset("npz", tmp_path).id == ds.id  # a directory with exactly one .npz


def test_npz_with_x_y_is_split_and_channel_first_is_transposed(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (10, 3, 6, 7)).astype(np.int32)
    y = np.arange(10) % 4
    np.savez(tmp_path / "d.npz", x=x, y=y)
    ds = load_dataset("npz", tmp_path / "d.npz")
    assert len(ds.test_labels) == 2 and len(ds.train_labels) == 8
    assert ds.image_shape == (6, 7, 3) and ds.test_images.dtype == np.uint8
    assert ds.classes == ("0", "1", "2", "3")
    assert ds.id == load_dataset("npz", tmp_path / "d.npz", seed=99).id


def test_npz_single_channel_is_squeezed(tmp_path):
    x, y = tiny_split(5, 0, shape=(4, 4, 1))
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    assert load_dataset("npz", tmp_path / "d.npz").image_shape == (4, 4)


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((3, 4, 4), np.uint8)}, "x_train, y_train, x_test, y_test or x, y"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.zeros(2, np.int64)}, "3 non-negative integers"),
    ({"x": np.zeros((3, 4), np.uint8), "y": np.zeros(3, np.int64)}, r"\(N,H,W\) grey"),
    ({"x": np.full((3, 4, 4), 300), "y": np.zeros(3, np.int64)}, "0..255"),
    ({"x": np.zeros((3, 4, 4), np.uint8), "y": np.zeros(3, np.float32)}, "integers"),
])
def test_npz_bad_layouts(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(NNVisError, match=message):
        load_dataset("npz", tmp_path / "bad.npz")


def test_npz_never_unpickles_and_needs_a_file(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    with pytest.raises(NNVisError, match="without pickle"):
        load_dataset("npz", tmp_path / "obj.npz")
    (tmp_path / "second.npz").write_bytes(b"")
    with pytest.raises(NNVisError, match="2 .npz files"):
        load_dataset("npz", tmp_path)
    with pytest.raises(NNVisError, match="does not exist"):
        load_dataset("npz", tmp_path / "none.npz")


def test_classes_must_cover_labels():
    with pytest.raises(NNVisError, match="label 2 has no class name"):
        ImageDataset("toy", np.zeros((3, 2, 2), np.uint8), np.array([0, 1, 2]), ("a", "b"))


# --- image folders --------------------------------------------------------------------------------

def write_pngs(root: Path, per_class: dict[str, int]) -> None:
    from PIL import Image

    for index, (name, count) in enumerate(per_class.items()):
        (root / name).mkdir(parents=True)
        for i in range(count):
            colour = (index * 100, i * 40, 255 - index * 100)
            image = Image.new("RGB", (5 + i, 7), colour) if i % 2 else Image.new("L", (5 + i, 7), 128)
            image.save(root / name / f"{i}.png")


def test_imagefolder_train_test_layout(tmp_path):
    write_pngs(tmp_path / "train", {"cat": 3, "dog": 2})
    write_pngs(tmp_path / "test", {"cat": 1, "dog": 2})
    ds = load_dataset("imagefolder", tmp_path, image_size=6)
    assert ds.classes == ("cat", "dog") and ds.image_shape == (6, 6, 3)
    assert ds.test_labels.tolist() == [0, 1, 1] and len(ds.require_train()[1]) == 5
    assert tuple(ds.test_images[2, 0, 0]) == (100, 40, 155)  # dog/1.png, resized solid colour


def test_imagefolder_single_folder_is_split(tmp_path):
    write_pngs(tmp_path, {"a": 4, "b": 3, "c": 3})
    ds = load_dataset("imagefolder", tmp_path)
    assert ds.image_shape == (32, 32, 3) and ds.classes == ("a", "b", "c")
    assert len(ds.test_labels) == 2 and len(ds.train_labels) == 8


def test_imagefolder_errors(tmp_path):
    with pytest.raises(NNVisError, match="not an image folder"):
        load_dataset("imagefolder", tmp_path)
    with pytest.raises(NNVisError, match="image size"):
        load_dataset("imagefolder", tmp_path, image_size=0)


# --- names ----------------------------------------------------------------------------------------

def test_unknown_dataset_suggests_close_name():
    with pytest.raises(NNVisError, match=r"unknown dataset 'mnsit'.*digits, mnist.*did you mean 'mnist'\?"):
        load_dataset("mnsit")
    assert "fashion-mnist" in DATASETS and len(DATASETS) == 8


def test_module_imports_no_web_framework():
    import nnvis.data.datasets

    tree = ast.parse(Path(nnvis.data.datasets.__file__).read_text())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not imported & {"dash", "flask", "pickle"}
