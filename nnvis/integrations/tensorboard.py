"""TensorBoard projector files of a layer's activations: projector_config.pbtxt, the tensor TSV
(one row per observation), the metadata TSV (class, prediction, split; a header row) and the
sprite image, so a TensorBoard user opens nnvis's activations in the projector
(`tensorboard --logdir DIR`). Written with no TensorBoard installed: the formats are text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nnvis.errors import NNVisError
from nnvis.integrations.sprite import sprite
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.export import SPLIT_NAMES
from nnvis.workspace.workspace import Workspace

CONFIG = "projector_config.pbtxt"
TENSORS, METADATA, SPRITE = "tensors.tsv", "metadata.tsv", "sprite.png"
METADATA_COLUMNS = ("class", "prediction", "split")


def cell(text: str) -> str:
    """A metadata value with no tab or line break (they would split the TSV)."""
    return " ".join(str(text).split())


def export_tensorboard(workspace: str | Path, layer: str, out: str | Path, epoch: int | None = None) -> Path:
    """Write the projector files of `layer` at `epoch` (default: the last) into the folder `out`;
    its path. Activations are captured when missing (a forward pass of the subset)."""
    analysis = Analysis(Workspace(workspace))
    analysis.check_layer(layer)
    epoch = analysis.epochs[-1] if epoch is None else epoch
    analysis.weights(epoch)  # NNVisError naming the epochs there are
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NNVisError(f"{out} is a file; allowed: a folder (new or existing) for the projector files")
    out.mkdir(parents=True, exist_ok=True)
    activations = np.asarray(analysis.activations(layer, epoch), dtype=np.float32)
    predictions, _ = analysis.predictions(epoch)
    subset = analysis.subset()
    np.savetxt(out / TENSORS, activations.reshape(len(activations), -1), fmt="%.6g", delimiter="\t")
    classes = analysis.classes
    rows = ["\t".join(METADATA_COLUMNS)] + [
        "\t".join((cell(classes[label]), cell(classes[predicted]), SPLIT_NAMES[split]))
        for label, predicted, split in zip(analysis.labels, predictions, subset["split"])]
    (out / METADATA).write_text("\n".join(rows) + "\n", encoding="utf-8")
    png, _, height, width = sprite(subset["images"])
    (out / SPRITE).write_bytes(png)
    name = json.dumps(f"{layer} epoch {epoch}")  # a protobuf text string: quoted and escaped as JSON is
    (out / CONFIG).write_text(
        "embeddings {\n"
        f"  tensor_name: {name}\n"
        f'  tensor_path: "{TENSORS}"\n'
        f'  metadata_path: "{METADATA}"\n'
        "  sprite {\n"
        f'    image_path: "{SPRITE}"\n'
        f"    single_image_dim: {width}\n"
        f"    single_image_dim: {height}\n"
        "  }\n"
        "}\n", encoding="utf-8")
    return out
