"""What a workspace's manifest says and where its artifacts lie in the store, without torch.

`StoredWorkspace` answers the questions that need no model, data set or projection library: the
epochs, layers and classes, the weights of an epoch, the store key of an artifact. `Analysis`
(nnvis.workspace.analysis) extends it with everything that computes. `nnvis summary` reads
stored figures through this class alone, so it answers without importing torch."""

from __future__ import annotations

from functools import cached_property

from nnvis.data.preprocess import Preprocess
from nnvis.errors import NNVisError
from nnvis.models.names import INPUT_LAYER
from nnvis.projection.metrics import FAITHFULNESS_OBSERVATIONS
from nnvis.workspace import keys
from nnvis.workspace.store import ArtifactKey
from nnvis.workspace.workspace import Workspace, resolve_device


class StoredWorkspace:
    """One workspace's manifest, settings and store keys (reads only what is written)."""

    def __init__(self, workspace: Workspace, *, device: str | None = None):
        self.workspace = workspace
        self.manifest = workspace.manifest()
        self.config = workspace.config()
        self.store = workspace.store
        self.device = resolve_device(device or self.config.device)

    # ---- what the manifest says
    @property
    def epochs(self) -> list[int]:
        return [int(e) for e in self.manifest["epochs"]]

    @property
    def layers(self) -> list[str]:
        return list(self.manifest["layers"])

    @property
    def classes(self) -> list[str]:
        return list(self.manifest["classes"])

    def weights(self, epoch: int) -> str:
        try:
            return self.manifest["weights"][str(epoch)]
        except KeyError:
            raise NNVisError(f"no snapshot for epoch {epoch}; allowed: {self.epochs}") from None

    def check_layer(self, layer: str) -> str:
        if layer != INPUT_LAYER and layer not in self.layers:
            raise NNVisError(f"layer '{layer}' was not captured; allowed: {', '.join([INPUT_LAYER] + self.layers)}")
        return layer

    @cached_property
    def preprocess(self) -> Preprocess:
        """Resize, crop and normalisation between the data's pixels and the model."""
        return Preprocess.of(self.config)

    # ---- store keys (see nnvis.workspace.keys, one function per artifact kind)
    def key(self, kind: str, *, layer: str = "", epoch: int = -1, method: str = "", **params) -> ArtifactKey:
        """The store key of an artifact of this workspace's data subset."""
        return keys.artifact(self, kind, layer=layer, epoch=epoch, method=method, **params)

    def projection_key(self, layer: str, epoch: int, method: str | None = None) -> ArtifactKey:
        return keys.projection(self, layer, epoch, method)

    def has_projection(self, layer: str, epoch: int, method: str | None = None) -> bool:
        """Whether the projection is already in the store (so showing it costs no computation)."""
        return self.projection_key(layer, epoch, method) in self.store

    def faithfulness_sample(self) -> int | None:
        """How many observations trustworthiness and continuity use: all of them on a GPU, at
        most FAITHFULNESS_OBSERVATIONS (a seeded sample) on the CPU."""
        return None if str(self.device).startswith("cuda") else FAITHFULNESS_OBSERVATIONS

    def faithfulness_key(self, layer: str, epoch: int, method: str | None = None) -> ArtifactKey:
        """The projection's key, of kind "faithfulness", with the ks and the observations used."""
        return keys.faithfulness(self, layer, epoch, method)

    def has_faithfulness(self, layer: str, epoch: int, method: str | None = None) -> bool:
        return self.faithfulness_key(layer, epoch, method) in self.store
