"""Image-classification datasets as plain uint8 arrays, loaded from local files.

Every loader returns an :class:`ImageDataset`; every bad input raises :class:`NNVisError`.
Nothing here unpickles: ``.npz`` files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import difflib
import gzip
import hashlib
import math
import struct
import zipfile
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from nnvis.data.npy import open_npz
from nnvis.errors import NNVisError

DATASETS: tuple[str, ...] = (
    "digits", "mnist", "fashion-mnist", "cifar10", "svhn", "idx", "npz", "imagefolder",
)
_DOWNLOADABLE = ("mnist", "fashion-mnist", "cifar10", "svhn")
_SPLIT_SEED = 0  # fixed, so that a dataset's id never depends on a user's seed
_DIGIT_CLASSES = tuple("0123456789")
_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
                    "dog", "frog", "horse", "ship", "truck")
# name -> (torchvision class and raw sub-folder, class names)
_IDX_FAMILY = {"mnist": ("MNIST", _DIGIT_CLASSES), "fashion-mnist": ("FashionMNIST", _FASHION_CLASSES)}
_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A test split (and maybe a train split) of uint8 images with int64 labels."""

    name: str
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]
    train_images: np.ndarray | None = None
    train_labels: np.ndarray | None = None

    def __post_init__(self) -> None:
        x, y = _as_split(self.test_images, self.test_labels, f"{self.name} test split")
        splits = {"test_images": x, "test_labels": y}
        if (self.train_images is None) != (self.train_labels is None):
            raise NNVisError(f"{self.name}: train images and train labels must be given together")
        if self.train_images is not None:
            tx, ty = _as_split(self.train_images, self.train_labels, f"{self.name} train split")
            if tx.shape[1:] != x.shape[1:]:
                raise NNVisError(f"{self.name}: train images are {tx.shape[1:]} but test images "
                                 f"are {x.shape[1:]}; both splits must have one image shape")
            splits.update(train_images=tx, train_labels=ty)
        classes = tuple(c.decode() if isinstance(c, bytes) else str(c) for c in self.classes)
        top = max(int(labels.max()) for key, labels in splits.items() if key.endswith("labels"))
        if top >= len(classes):
            raise NNVisError(f"{self.name}: label {top} has no class name "
                             f"({len(classes)} classes given); need one name per label 0..{top}")
        for key, value in {**splits, "classes": classes}.items():
            object.__setattr__(self, key, value)

    @cached_property
    def id(self) -> str:
        """Stable content id: name plus a hash of the test images, labels and shape."""
        digest = hashlib.sha256()
        digest.update(self.test_images.data)
        digest.update(self.test_labels.data)
        digest.update(repr(self.test_images.shape).encode())
        return f"{self.name}-{digest.hexdigest()[:12]}"

    @property
    def image_shape(self) -> tuple[int, ...]:
        """(H, W) for grey images, (H, W, 3) for RGB."""
        return tuple(self.test_images.shape[1:])

    @property
    def channels(self) -> int:
        """1 for grey, 3 for RGB."""
        return 3 if self.test_images.ndim == 4 else 1

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def require_train(self) -> tuple[np.ndarray, np.ndarray]:
        """The train split, or an NNVisError if this dataset has none."""
        if self.train_images is None:
            raise NNVisError(f"dataset {self.name!r} has no train split (only {len(self.test_labels)} "
                             "test images were found); provide the train files or use a dataset with one")
        return self.train_images, self.train_labels


def load_dataset(name: str, data_dir: str | Path | None = None, *, download: bool = False,
                 seed: int = 0, image_size: int | None = None,
                 cache_dir: str | Path | None = None) -> ImageDataset:
    """Load dataset `name` (one of DATASETS) from `data_dir`. An image folder's pictures are
    resized to 32x32 by default; with `image_size` their shorter side goes to `image_size` and
    the centre square is kept (torchvision's Resize + CenterCrop). With `cache_dir`, they are
    decoded once into a memory-mapped file there (nnvis.data.decode_cache).

    `seed` is accepted for API symmetry; splits always use a fixed seed so ids stay stable.
    """
    key = name.strip().lower() if isinstance(name, str) else name
    if key not in DATASETS:
        close = difflib.get_close_matches(str(key), DATASETS, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise NNVisError(f"unknown dataset {name!r}; allowed: {', '.join(DATASETS)}{hint}")
    if image_size is not None and (isinstance(image_size, bool) or not isinstance(image_size, int)
                                   or image_size < 1):
        raise NNVisError(f"image size {image_size!r} is invalid; allowed: a positive integer")
    if key == "digits":
        return _load_digits()
    if key == "npz":
        return _load_npz(data_dir)
    root = _data_dir(key, data_dir, download)
    if key in _IDX_FAMILY:
        return _load_mnist_like(key, root, download)
    if key == "cifar10":
        return _load_cifar10(root, download)
    if key == "svhn":
        return _load_svhn(root, download)
    if key == "idx":
        return _load_idx_dir(root)
    return _load_imagefolder(root, image_size, cache_dir)


def read_idx(path: str | Path) -> np.ndarray:
    """Read a raw or gzipped IDX file (magic 0,0,dtype code,ndim; big-endian dims)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise NNVisError(f"cannot read IDX file {path}: {exc}") from exc
    if len(raw) < 4 or raw[0] or raw[1] or raw[2] not in _IDX_DTYPES or raw[3] == 0:
        raise NNVisError(f"{path} is not an IDX file: it starts with {raw[:4].hex() or 'nothing'}; "
                         "expected 00 00, a dtype code (08,09,0b,0c,0d,0e) and a dimension count")
    header = 4 + 4 * raw[3]
    dtype = np.dtype(_IDX_DTYPES[raw[2]])
    dims = struct.unpack(f">{raw[3]}I", raw[4:header]) if len(raw) >= header else ()
    expected = header + math.prod(dims) * dtype.itemsize
    if not dims or len(raw) != expected:
        raise NNVisError(f"{path} is a corrupt IDX file: header says shape {dims} ({expected} bytes) "
                         f"but the file has {len(raw)} bytes")
    return np.frombuffer(raw, dtype, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def seeded_split(images, labels, test_fraction: float, seed: int):
    """Split into (train_x, train_y, test_x, test_y) with a permutation from `seed`."""
    n = len(images)
    if len(labels) != n:
        raise NNVisError(f"{n} images but {len(labels)} labels; need one label per image")
    if not 0 < test_fraction < 1:
        raise NNVisError(f"test fraction {test_fraction!r} is invalid; allowed: between 0 and 1")
    if n < 2:
        raise NNVisError(f"cannot split {n} image(s) into train and test; need at least 2")
    n_test = min(max(math.ceil(n * test_fraction - 1e-9), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    test, train = order[:n_test], order[n_test:]
    return images[train], labels[train], images[test], labels[test]


def _as_split(images, labels, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one split; return C-contiguous uint8 images and int64 labels."""
    x = np.asarray(images)
    if x.ndim == 4 and x.shape[1] in (1, 3) and x.shape[-1] not in (1, 3):
        x = x.transpose(0, 2, 3, 1)  # (N,C,H,W) -> (N,H,W,C)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if not (x.ndim == 3 or (x.ndim == 4 and x.shape[-1] == 3)) or len(x) == 0:
        raise NNVisError(f"{what}: images have shape {x.shape}; allowed: (N,H,W) grey or (N,H,W,3) "
                         "RGB (also (N,H,W,1) and (N,3,H,W)), N > 0")
    if x.dtype != np.uint8:
        numeric = np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)
        if not numeric or x.min() < 0 or x.max() > 255 or not np.all(x == np.round(x)):
            raise NNVisError(f"{what}: images have dtype {x.dtype}; allowed: uint8 or whole numbers 0..255")
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
        raise NNVisError(f"{what}: labels have shape {y.shape} and dtype {y.dtype}; "
                         f"allowed: {len(x)} non-negative integers (1-d, one per image)")
    return np.ascontiguousarray(x, dtype=np.uint8), np.ascontiguousarray(y, dtype=np.int64)


def _numbered_classes(*labels: np.ndarray | None) -> tuple[str, ...]:
    """Class names "0".."K-1" covering every label given."""
    top = max((int(np.max(y)) for y in labels if y is not None and np.size(y)), default=0)
    return tuple(str(i) for i in range(top + 1))


def _data_dir(name: str, data_dir, download: bool) -> Path:
    """The existing data directory for `name` (may be absent only when downloading)."""
    hint = "pass --data-dir" + (" (with --download to fetch it)" if name in _DOWNLOADABLE else "")
    if data_dir is None:
        raise NNVisError(f"dataset {name!r} needs a data directory; {hint}")
    path = Path(data_dir).expanduser()
    if path.is_dir() or (download and name in _DOWNLOADABLE and not path.exists()):
        return path
    raise NNVisError(f"data directory {path} for dataset {name!r} does not exist "
                     f"or is not a directory; {hint}")


def _load_digits() -> ImageDataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * 255 / 16).astype(np.uint8)
    tx, ty, x, y = seeded_split(images, bunch.target.astype(np.int64), 0.3, _SPLIT_SEED)
    return ImageDataset("digits", x, y, _DIGIT_CLASSES, tx, ty)


def _idx_paths(directory: Path) -> dict[str, Path | None]:
    """IDX files in `directory` by role, from their names ('t10k'/'test'/'train', 'images'/'labels')."""
    found: dict[str, Path] = {}  # lower-case name without .gz -> path, raw preferred over gzipped
    for path in sorted(directory.iterdir()) if directory.is_dir() else ():
        stem = path.name.lower().removesuffix(".gz")
        if path.is_file() and (stem not in found or not path.name.lower().endswith(".gz")):
            found[stem] = path

    def pick(kind: str, words: tuple[str, ...]) -> Path | None:
        hits = [path for stem, path in found.items() if kind in stem and any(w in stem for w in words)]
        if len(hits) > 1:
            raise NNVisError(f"several {'/'.join(words)} {kind} files in {directory}: "
                             f"{', '.join(p.name for p in hits)}; keep exactly one")
        return hits[0] if hits else None

    return {f"{split}_{kind}": pick(kind, words) for split, words in (("test", ("t10k", "test")),
            ("train", ("train",))) for kind in ("images", "labels")}


def _idx_dataset(name: str, paths: dict[str, Path | None], classes=None) -> ImageDataset | None:
    """Read the IDX files in `paths` (None if test files are missing; train kept if both exist)."""
    if not (paths["test_images"] and paths["test_labels"]):
        return None
    x, y = read_idx(paths["test_images"]), read_idx(paths["test_labels"])
    has_train = paths["train_images"] and paths["train_labels"]
    tx, ty = (read_idx(paths["train_images"]), read_idx(paths["train_labels"])) if has_train else (None, None)
    return ImageDataset(name, x, y, classes or _numbered_classes(y, ty), tx, ty)


def _load_mnist_like(name: str, root: Path, download: bool) -> ImageDataset:
    folder, classes = _IDX_FAMILY[name]
    raw = root / folder / "raw"  # where torchvision's downloader writes the IDX files
    dataset = _idx_dataset(name, _idx_paths(root), classes) or _idx_dataset(name, _idx_paths(raw), classes)
    if dataset is None and download:
        _torchvision(folder, root, True, "test", train=False)
        dataset = _idx_dataset(name, _idx_paths(raw), classes)
    if dataset is None:
        raise NNVisError(f"{folder} test images not found in {root} or {raw} (looked for t10k-images-"
                         "idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]); pass --data-dir or --download")
    return dataset


def _load_idx_dir(root: Path) -> ImageDataset:
    dataset = _idx_dataset("idx", _idx_paths(root))
    if dataset is None:
        raise NNVisError(f"no test IDX files in {root}: need file names containing 'images' and 'labels', "
                         "each with 't10k' or 'test' (raw or .gz)")
    return dataset


def _torchvision(cls_name: str, root: Path, download: bool, what: str, **kwargs):
    """(images, labels, classes) from torchvision.datasets.<cls_name>; 'not found' -> NNVisError."""
    import torchvision.datasets

    try:
        data = getattr(torchvision.datasets, cls_name)(root=str(root), download=download, **kwargs)
    except (RuntimeError, OSError) as exc:
        if download:
            raise NNVisError(f"could not download the {cls_name} {what} split to {root}: {exc}") from exc
        raise NNVisError(f"{cls_name} {what} split not found in {root}: {exc}; "
                         "pass --download to fetch it") from exc
    labels = data.targets if hasattr(data, "targets") else data.labels
    return data.data, np.asarray(labels), getattr(data, "classes", None)


def _optional_train(load) -> tuple[np.ndarray | None, np.ndarray | None]:
    """(images, labels) from `load()`, or (None, None) if the train split is not available."""
    try:
        return load()[:2]
    except NNVisError:
        return None, None


def _read_npz(path: Path, wanted: tuple[str, ...]) -> tuple[dict[str, np.ndarray], list[str]]:
    """The `wanted` arrays present in an .npz file (no pickle), and all its array names."""
    try:
        with open_npz(path) as npz:
            return {k: npz[k] for k in wanted if k in npz.files}, sorted(npz.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise NNVisError(f"cannot read {path} as an .npz file without pickle: {exc}") from exc


def _load_cifar10(root: Path, download: bool) -> ImageDataset:
    files = sorted(root.glob("*.npz")) if root.is_dir() else []
    tests = [p for p in files if "train" not in p.name.lower()]
    if tests:
        test, names = _read_npz(tests[0], ("x", "y", "classes"))
        train = next((_read_npz(p, ("x", "y"))[0] for p in files if p not in tests), {})
        if not {"x", "y"} <= test.keys():
            raise NNVisError(f"{tests[0]} has arrays {names}; expected x and y (plus optional classes)")
        return ImageDataset("cifar10", test["x"], test["y"], tuple(test.get("classes", _CIFAR10_CLASSES)),
                            train.get("x"), train.get("y"))
    x, y, classes = _torchvision("CIFAR10", root, download, "test", train=False)
    train = _optional_train(lambda: _torchvision("CIFAR10", root, download, "train", train=True))
    return ImageDataset("cifar10", x, y, tuple(classes), *train)


def _load_svhn(root: Path, download: bool) -> ImageDataset:
    x, y, _ = _torchvision("SVHN", root, download, "test", split="test")
    train = _optional_train(lambda: _torchvision("SVHN", root, download, "train", split="train"))
    return ImageDataset("svhn", x, y, _DIGIT_CLASSES, *train)


def _load_npz(data_dir) -> ImageDataset:
    path = _npz_file(data_dir)
    arrays, names = _read_npz(path, ("x_train", "y_train", "x_test", "y_test", "x", "y", "classes"))
    given = arrays.get("classes")
    if {"x_train", "y_train", "x_test", "y_test"} <= arrays.keys():
        tx, ty = _as_split(arrays["x_train"], arrays["y_train"], f"{path} train arrays")
        x, y = _as_split(arrays["x_test"], arrays["y_test"], f"{path} test arrays")
    elif {"x", "y"} <= arrays.keys():
        tx, ty, x, y = seeded_split(*_as_split(arrays["x"], arrays["y"], f"{path} x/y"), 0.2, _SPLIT_SEED)
    else:
        raise NNVisError(f"{path} has arrays {names}; expected x_train, y_train, x_test, y_test "
                         "or x, y (plus optional classes)")
    classes = tuple(given.reshape(-1)) if given is not None else _numbered_classes(y, ty)
    return ImageDataset("npz", x, y, classes, tx, ty)


def _npz_file(data_dir) -> Path:
    """The .npz file given, or the only one in the directory given."""
    if data_dir is None:
        raise NNVisError("dataset 'npz' needs --data-dir: an .npz file or a directory holding one")
    path = Path(data_dir).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.npz"))
        if len(files) != 1:
            raise NNVisError(f"{path} holds {len(files)} .npz files ({', '.join(f.name for f in files)}); "
                             "expected exactly one, or pass the file itself")
        return files[0]
    if not path.is_file():
        raise NNVisError(f"npz file {path} does not exist")
    return path


def _load_imagefolder(root: Path, image_size: int | None, cache_dir=None) -> ImageDataset:
    if (root / "train").is_dir() and (root / "test").is_dir():
        train, test = _image_folder(root / "train"), _image_folder(root / "test")
        if train.classes != test.classes:
            raise NNVisError(f"{root}: train classes {train.classes} differ from test classes "
                             f"{test.classes}; both must have the same class folders")
        x, y = _read_images(test.samples, image_size, cache_dir)
        tx, ty = _read_images(train.samples, image_size, cache_dir)
    else:
        test = _image_folder(root)
        tx, ty, x, y = seeded_split(*_read_images(test.samples, image_size, cache_dir), 0.2, _SPLIT_SEED)
    return ImageDataset("imagefolder", x, y, tuple(test.classes), tx, ty)


def _image_folder(path: Path):
    """torchvision's ImageFolder listing of `path` (samples and classes; no pixels read)."""
    from torchvision.datasets import ImageFolder

    try:
        return ImageFolder(str(path))
    except (FileNotFoundError, OSError) as exc:
        raise NNVisError(f"{path} is not an image folder ({exc}); expected <class>/<image> "
                         "subfolders, or train/<class>/... and test/<class>/...") from exc


def _read_images(samples: list[tuple[str, int]], size: int | None, cache_dir=None) -> tuple[np.ndarray, np.ndarray]:
    """Load (path, label) samples as RGB uint8 images: squashed to 32x32 when `size` is None,
    else the shorter side resized to `size` and the centre size x size square kept."""
    from PIL import Image

    from nnvis.data.decode_cache import decoded
    from nnvis.data.preprocess import Preprocess

    fit = Preprocess(image_size=size, crop=size) if size else None

    def load(path: str) -> np.ndarray:
        try:
            with Image.open(path) as image:
                if fit is not None:
                    return fit.resize_image(np.asarray(image.convert("RGB")))
                return np.asarray(image.convert("RGB").resize((32, 32), Image.Resampling.BILINEAR))
        except (OSError, ValueError) as exc:
            raise NNVisError(f"cannot read image {path}: {exc}") from exc

    images = decoded([path for path, _ in samples], load, size, cache_dir)
    return images, np.array([label for _, label in samples], dtype=np.int64)
