"""A workspace folder: the run's manifest (workspace.json), weight snapshots and the store.

    workspace.json     what was run and what it produced (ids and hashes, no arrays)
    snapshots/         state_dicts per epoch, read back with weights_only=True
    store/             the content-addressed artifact store (diskcache)
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from nnvis.data.datasets import DATASETS
from nnvis.data.preprocess import NORMALIZE_NONE, Preprocess
from nnvis.errors import NNVisError
from nnvis.models.names import PRECISION_NAMES
from nnvis.projection.methods import PROJECTIONS
from nnvis.workspace.store import Store

if TYPE_CHECKING:
    import torch
    from torch import nn

MANIFEST = "workspace.json"
DEFAULT_SUBSET = 2000
DEVICES = ("auto", "cpu", "cuda")
# --observations: the pool a workspace's subset is drawn from (pool order: test split, then train split)
OBSERVATIONS = {"test": "the test split", "all": "test + train"}
SUBSET_ALL = "all"  # --subset all: every observation of the pool


@dataclass(frozen=True)
class RunConfig:
    """Everything `nnvis run` was asked to do."""

    dataset: str
    model: str
    data_dir: str | None = None
    weights: str | None = None
    epochs: int = 3
    observations: str = "test"  # one of OBSERVATIONS
    subset: int | str | None = None  # None: the pool, up to DEFAULT_SUBSET; SUBSET_ALL: the whole pool
    layers: str = "all"
    projection: str = "tsne"
    device: str = "auto"
    precision: str = "float32"  # capture under autocast with "bfloat16" / "float16" where allowed
    seed: int = 0
    snapshot_every: int = 1
    batch_size: int = 128
    learning_rate: float = 1e-3
    download: bool = False
    normalize: str = NORMALIZE_NONE  # "none", "imagenet" or "MEAN,.../STD,..." (nnvis.data.preprocess)
    image_size: int | None = None  # resize: the shorter side to this many pixels
    crop: int | None = None  # centre crop to crop x crop pixels
    checkpoints: str | None = None  # a glob or folder of per-epoch state_dicts, used instead of training
    tokens: str | None = None  # token layers: cls, mean (patches: nnvis patches); recorded as resolved by the run
    layout: str | None = None  # --layout: KIND or LAYER=KIND,... where the model cannot say (nnvis.models.layout)

    def validate(self) -> "RunConfig":
        """Raise NNVisError for a value outside what is allowed; return self otherwise."""
        choices = {"dataset": DATASETS, "projection": PROJECTIONS, "device": DEVICES, "precision": PRECISION_NAMES,
                   "observations": tuple(OBSERVATIONS)}
        for name, allowed in choices.items():
            value = getattr(self, name)
            if value not in allowed:
                raise NNVisError(f"unknown {name} '{value}'; allowed: {', '.join(allowed)}")
        if not (self.subset is None or self.subset == SUBSET_ALL or is_count(self.subset)):
            raise NNVisError(f"--subset {self.subset!r} is invalid; allowed: a whole number or '{SUBSET_ALL}'")
        for name in ("epochs", "subset", "snapshot_every", "batch_size"):
            value = getattr(self, name)
            if value is None or value == SUBSET_ALL:
                continue
            minimum = 0 if name == "epochs" else 1
            if value < minimum:
                raise NNVisError(f"--{name.replace('_', '-')} must be >= {minimum}, got {value}")
        if not self.learning_rate > 0:
            raise NNVisError(f"--learning-rate must be > 0, got {self.learning_rate}")
        if self.checkpoints is not None and self.weights is not None:
            raise NNVisError("--checkpoints and --weights were both given; allowed: one of them "
                             "(--weights loads one file, --checkpoints a series as epochs)")
        Preprocess.of(self)
        from nnvis.models.layout import TOKEN_CHOICES, parse_layouts

        if self.tokens is not None and self.tokens not in TOKEN_CHOICES:
            raise NNVisError(f"--tokens {self.tokens!r} is unknown; allowed: {', '.join(TOKEN_CHOICES)}")
        parse_layouts(self.layout)
        return self

    @classmethod
    def from_dict(cls, data: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def is_count(value) -> bool:
    """Whether `value` is a whole number (an int, not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)


def resolve_device(device: str) -> str:
    """`auto` becomes cuda when a GPU is visible, else cpu; cuda without a GPU is an error."""
    if device == "cpu":
        return device
    if device == "auto" and not nvidia_driver_loaded():
        return "cpu"  # no driver, no CUDA device: known without importing torch
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise NNVisError("--device cuda was asked for but no CUDA GPU is visible; use --device cpu or auto")
    return device


def nvidia_driver_loaded() -> bool:
    """Whether an NVIDIA kernel driver is loaded (without it torch sees no CUDA device)."""
    return Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()


class Workspace:
    """An existing or new workspace folder (`read_only`: its store computes and writes nothing)."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._store: Store | None = None

    @property
    def manifest_path(self) -> Path:
        return self.path / MANIFEST

    def exists(self) -> bool:
        return self.manifest_path.is_file()

    def manifest(self) -> dict:
        """The parsed workspace.json; NNVisError when the folder is not a workspace."""
        if not self.exists():
            raise NNVisError(f"{self.path} is not an nnvis workspace (no {MANIFEST}); create one with `nnvis run`")
        from nnvis.workspace.integrity import parse_manifest

        try:
            text = self.manifest_path.read_text()
        except (OSError, UnicodeDecodeError) as error:
            raise NNVisError(f"{self.manifest_path} cannot be read ({error})") from None
        return parse_manifest(text, self.manifest_path)

    def write_manifest(self, manifest: dict) -> None:
        """Replace workspace.json atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_suffix(".tmp")
        with removed_on_failure(tmp):
            tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
            os.replace(tmp, self.manifest_path)

    def config(self) -> RunConfig:
        return RunConfig.from_dict(self.manifest()["config"])

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.path / "store", read_only=self.read_only)
        return self._store

    def snapshot_path(self, epoch: int) -> Path:
        return self.path / "snapshots" / f"epoch_{epoch:04d}.pt"

    def save_snapshot(self, epoch: int, module: nn.Module) -> None:
        """Write the module's state_dict for `epoch` (atomically)."""
        path = self.snapshot_path(epoch)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        import torch

        try:
            with removed_on_failure(tmp):
                torch.save({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp)
                os.replace(tmp, path)
        except (OSError, RuntimeError) as error:  # torch reports a full disk as a RuntimeError
            reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else type(error).__name__
            raise NNVisError(f"cannot write snapshot {path} ({reason}); is the disk full?") from None

    def load_snapshot(self, epoch: int) -> dict[str, torch.Tensor]:
        """The state_dict of `epoch`, checked against the hash workspace.json recorded for it."""
        from nnvis.models.zoo import read_state_dict
        from nnvis.workspace.integrity import verify_snapshot

        epochs = self.manifest()["epochs"]
        if epoch not in epochs:  # e.g. -1 from a link: say what exists, not where files lie
            raise NNVisError(f"no snapshot for epoch {epoch}; allowed: {', '.join(map(str, epochs))}")
        path = self.snapshot_path(epoch)
        return verify_snapshot(path, read_state_dict(path), self.manifest()["weights"].get(str(epoch)))


@contextlib.contextmanager
def removed_on_failure(tmp: Path):
    """Delete the half-written `tmp` when writing it fails (a full disk leaves no .tmp behind)."""
    try:
        yield
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
