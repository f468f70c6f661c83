"""The store key of every artifact kind, one function each, used by the code that computes,
checks (`has_...`) and reads it, so the three can never drift apart.

A key says what produced the artifact (see `ArtifactKey`): the workspace's data subset, the
weights of the epoch, the layer, the method and its parameters. The keys are those the store
has always used (a test pins them), so existing workspaces keep their cached artifacts, except
where the computation changed: t-SNE and UMAP on the shared neighbour graph (PCA-50 above 100
units, `nnvis.projection.knn`) carry `graph=GRAPH_PATH`, in their projections and in everything
made from them (measures, sequences, trails, aligned pairs), and t-SNE its stop once the
neighborhood hit has settled (`tsne_stop`), so a projection stored by a path before is
recomputed, never served as one of this path."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from nnvis.models.names import INPUT_LAYER
from nnvis.projection.gpu import uses_gpu_engine
from nnvis.projection.knn import GRAPH_PATH
from nnvis.projection.methods import TSNE_STOP, UMAP_SCHEDULE, check_method
from nnvis.projection.metrics import FAITHFULNESS_KS
from nnvis.projection.neurons import DEFAULT_SCORING, check_scoring
from nnvis.projection.trails import (
    ALIGNED_TSNE_ITERATIONS,
    COHERENCE,
    NH_ALLOWANCE,
    TIE_NEIGHBOURS,
    check_coherence,
)
from nnvis.workspace.store import ArtifactKey

if TYPE_CHECKING:
    from nnvis.workspace.analysis import Analysis

ACTMAX_METHOD = "yosinski2015"
"""Activation maximization as in Yosinski et al. 2015 (nnvis.unitlab.actmax)."""
NEURON_MAP_METHOD = "mds-live"


def artifact(analysis: Analysis, kind: str, *, layer: str = "", epoch: int = -1, method: str = "",
             **params: Any) -> ArtifactKey:
    """The key of an artifact of the workspace's data subset. Whatever comes from a forward pass
    at an epoch also depends on mixed precision (`config.precision`) and on the preprocessing
    (when not the default; a resize already changes the data set's id)."""
    config = analysis.config
    weights = analysis.weights(epoch) if epoch >= 0 else ""
    if epoch >= 0 and config.precision != "float32":
        params = {"precision": config.precision, **params}
    if epoch >= 0:
        params = {**analysis.preprocess.key(), **params}
    if layer and layer != INPUT_LAYER:  # which tokens stand for an image, and a layout the user named
        params = {**({"tokens": config.tokens} if getattr(config, "tokens", None) else {}),
                  **({"layout": config.layout} if getattr(config, "layout", None) else {}), **params}
    subset_name = f"{config.observations}-{config.subset}-seed{config.seed}"
    base = ArtifactKey(kind, analysis.manifest["dataset_id"], subset_name, weights, layer, epoch, method)
    return base.with_params(**params) if params else base


# ---- the data subset and what one forward pass gives

def subset(analysis: Analysis) -> ArtifactKey:
    """The subset's images, labels, pool indices and splits."""
    return artifact(analysis, "subset")


def subset_labels(analysis: Analysis) -> ArtifactKey:
    return artifact(analysis, "subset-labels")


def thumbnail(analysis: Analysis, index: int, size: int) -> ArtifactKey:
    return artifact(analysis, "thumbnail", index=int(index), size=int(size))


def activations(analysis: Analysis, layer: str, epoch: int) -> ArtifactKey:
    """A layer's activations at `epoch`; the `input` pseudo-layer has no epoch."""
    if layer == INPUT_LAYER:
        return artifact(analysis, "activations", layer=INPUT_LAYER)
    return artifact(analysis, "activations", layer=layer, epoch=epoch)


def activations_by_unit(analysis: Analysis, layer: str, epoch: int) -> ArtifactKey:
    return artifact(analysis, "activations-by-unit", layer=layer, epoch=-1 if layer == INPUT_LAYER else epoch)


def probabilities(analysis: Analysis, epoch: int) -> ArtifactKey:
    return artifact(analysis, "probabilities", epoch=epoch)


def prediction_table(analysis: Analysis, epoch: int) -> ArtifactKey:
    return artifact(analysis, "prediction-table", epoch=epoch)


def accuracy(analysis: Analysis, epoch: int) -> ArtifactKey:
    return artifact(analysis, "accuracy", epoch=epoch)


# ---- projections and neuron maps

def projection(analysis: Analysis, layer: str, epoch: int, method: str | None = None) -> ArtifactKey:
    """A projection of a captured layer (the input's has no epoch); GPU results are keyed apart."""
    method = check_method(method or analysis.config.projection)
    epoch = -1 if layer == INPUT_LAYER else epoch
    engine = {"engine": "torchdr"} if uses_gpu_engine(method, analysis.device) else graph_path(method)
    return artifact(analysis, "projection", layer=analysis.check_layer(layer), epoch=epoch, method=method,
                    seed=analysis.config.seed, **engine)


def graph_path(method: str) -> dict[str, str]:
    """`graph=GRAPH_PATH` for the methods that run on the shared neighbour graph on the CPU
    (t-SNE and UMAP: whole projections, aligned frames, pairs), and for t-SNE its stop once the
    neighborhood hit has settled (`tsne_stop=TSNE_STOP`), for UMAP its epochs on large sets
    (`umap_epochs=UMAP_SCHEDULE`); nothing for PCA, unchanged."""
    if method == "tsne":
        return {"graph": GRAPH_PATH, "tsne_stop": TSNE_STOP}
    return {"graph": GRAPH_PATH, "umap_epochs": UMAP_SCHEDULE} if method == "umap" else {}


def patch_projection(analysis: Analysis, layer: str, epoch: int, method: str | None, sample: int) -> ArtifactKey:
    """A projection of a seeded sample of at most `sample` patch tokens of a token layer (--tokens patches)."""
    method = check_method(method or analysis.config.projection)
    engine = {"engine": "torchdr"} if uses_gpu_engine(method, analysis.device) else graph_path(method)
    return artifact(analysis, "patch-projection", layer=analysis.check_layer(layer), epoch=epoch, method=method,
                    seed=analysis.config.seed, sample=int(sample), **engine)


def faithfulness(analysis: Analysis, layer: str, epoch: int, method: str | None = None) -> ArtifactKey:
    """The projection's key, of kind "faithfulness", with the ks and the observations used."""
    key = projection(analysis, layer, epoch, method)
    cap = analysis.faithfulness_sample()
    used = analysis.config.subset if cap is None else min(cap, analysis.config.subset)
    return replace(key, kind="faithfulness").with_params(**dict(key.params), ks=",".join(map(str, FAITHFULNESS_KS)),
                                                         observations=used)


def neuron_map(analysis: Analysis, layer: str, epoch: int, scoring: str = DEFAULT_SCORING,
               seed: int | None = None) -> ArtifactKey:
    return artifact(analysis, "neuron_map", layer=analysis.check_layer(layer), epoch=epoch,
                    method=NEURON_MAP_METHOD, seed=analysis.config.seed if seed is None else int(seed),
                    scoring=check_scoring(scoring))


# ---- the unit lab (the caller checks layer, mode and image set)

def class_cosine(analysis: Analysis, layer: str, epoch: int) -> ArtifactKey:
    return artifact(analysis, "class_cosine", layer=analysis.check_layer(layer), epoch=epoch)


def sparsity(analysis: Analysis, layer: str, epoch: int, threshold: float, bins: int) -> ArtifactKey:
    return artifact(analysis, "sparsity", layer=analysis.check_layer(layer), epoch=epoch, threshold=float(threshold),
                    bins=bins)


def ablation(analysis: Analysis, layer: str, epoch: int, mode: str, count: int, on: str) -> ArtifactKey:
    """Accuracy with `count` units zeroed; count 0 (the intact model) is one key for every mode."""
    return artifact(analysis, "ablation", layer=layer, epoch=epoch, method=mode if count else "none", count=count,
                    on=on)


def ablation_sweep(analysis: Analysis, layer: str, epoch: int, mode: str, counts: list[int],
                   on: str) -> list[ArtifactKey]:
    """The keys of a sweep's points: the intact model first, then each count."""
    return [ablation(analysis, layer, epoch, mode, count, on) for count in [0, *counts]]


def perturbation(analysis: Analysis, epoch: int, layers: list[str], variance: float, seed: int,
                 on: str) -> ArtifactKey:
    return artifact(analysis, "perturbation", epoch=epoch, method="gaussian", layers=",".join(layers),
                    variance=variance, seed=int(seed), on=on)


def layer_shape(analysis: Analysis, layer: str) -> ArtifactKey:
    """One image's output shape at `layer` (the same at every epoch): (C,H,W) maps or (D,)."""
    return artifact(analysis, "layer-shape", layer=layer)


def unit_maps(analysis: Analysis, layer: str, epoch: int, unit: int, k: int) -> ArtifactKey:
    return artifact(analysis, "unit_maps", layer=layer, epoch=epoch, unit=int(unit), k=k)


def actmax(analysis: Analysis, layer: str, epoch: int, unit: int, settings: dict[str, Any]) -> ArtifactKey:
    """Activation maximization of one unit; `settings` are the run's (ActMaxParams.as_key())."""
    return artifact(analysis, "actmax", layer=layer, epoch=epoch, method=ACTMAX_METHOD, unit=int(unit), **settings)


# ---- the compare wing: evolution sequences and snapshot pairs

def sequence(analysis: Analysis, kind: str, anchor: str | int, method: str,
             coherence: str | None = None) -> ArtifactKey:
    """What a sequence depends on: every frame's weights, its layers, the method, the seed and
    the coherence setting (none for "chain", the setting of sequences stored before the knob);
    t-SNE's and UMAP's frames are made on the shared neighbour graph (`graph_path`)."""
    coherence = check_coherence(coherence, method)
    tied = {**graph_path(method), **({} if coherence == "chain" else {"coherence": coherence})}
    if method == "tsne" and coherence != "independent":  # initialised frames: the short schedule where NH allows
        tied["schedule"] = "ee{}-main{}-nh{}".format(*ALIGNED_TSNE_ITERATIONS, NH_ALLOWANCE)
    if coherence not in COHERENCE:
        tied["tie"] = f"kept-neighbours-{TIE_NEIGHBOURS}"  # the attraction's weighting (nnvis.projection.trails)
    if kind == "layers":
        return artifact(analysis, "sequence", layer=",".join(analysis.layers), epoch=int(anchor), method=method,
                        seed=analysis.config.seed, **tied)
    weights = ",".join(analysis.weights(e) for e in analysis.epochs)
    return artifact(analysis, "sequence", layer=str(anchor), method=method, weights_by_epoch=weights,
                    seed=analysis.config.seed, **tied)


def bundled_trails(analysis: Analysis, kind: str, anchor: str | int, method: str,
                   coherence: str | None = None) -> ArtifactKey:
    """The sequence's key, of kind "bundled-trails"."""
    return replace(sequence(analysis, kind, anchor, method, coherence), kind="bundled-trails")


class Side(Protocol):
    """One side of a comparison (nnvis.compare.snapshots.Snapshot): a layer at an epoch of a workspace."""

    analysis: Analysis
    layer: str
    epoch: int


def side_identity(side: Side) -> str:
    """The digest of what a side's activations depend on (data, subset, weights, layer, precision)."""
    return activations(side.analysis, side.layer, side.epoch).digest()


def pair(a: Side, b: Side, kind: str, **params: Any) -> ArtifactKey:
    """An artifact of the pair (a, b), kept in a's store."""
    subset_key = subset(a.analysis)
    return ArtifactKey(kind, subset_key.dataset, subset_key.subset, layer=f"{a.layer}|{b.layer}", epoch=-1).with_params(
        sides=f"{side_identity(a)}|{side_identity(b)}", **params)


def aligned_pair(a: Side, b: Side, method: str) -> ArtifactKey:
    """a's projection and b's initialised from it (nnvis.compare.snapshots.aligned_projections)."""
    method = check_method(method)
    return pair(a, b, "aligned-pair", method=method, seed=a.analysis.config.seed, **graph_path(method))


# ---- the shared neighbour graph (nnvis.projection.knn)

def knn_graph(analysis: Analysis, layer: str, epoch: int) -> ArtifactKey:
    """The neighbour graph of a layer's activations that t-SNE and UMAP share: its k, the
    PCA rule of the space it is found in, and the search (exact, or pynndescent for large subsets)."""
    from nnvis.projection.knn import EXACT_LIMIT, GRAPH_K, PCA_ABOVE, PCA_DIMS

    epoch = -1 if layer == INPUT_LAYER else epoch
    search = "exact" if analysis.config.subset <= EXACT_LIMIT else "nndescent"
    return artifact(analysis, "knn-graph", layer=analysis.check_layer(layer), epoch=epoch, method=search,
                    k=GRAPH_K, space=f"pca{PCA_DIMS}-above-{PCA_ABOVE}", seed=analysis.config.seed)


# ---- the concepts wing (nnvis.concepts; the caller checks layer, k and epochs)

CONCEPT_METHOD = "nmf-positions"
"""Concepts as scikit-learn's NMF of a layer's activations at spatial positions (nnvis.concepts)."""


def concept_atlas(analysis: Analysis, layer: str, epoch: int, k: int, seed: int, images: int) -> ArtifactKey:
    """A layer's concept atlas at `epoch`: K concepts fitted on `images` subset observations drawn with `seed`."""
    return artifact(analysis, "concept-atlas", layer=layer, epoch=epoch, method=CONCEPT_METHOD, k=int(k),
                    seed=int(seed), images=int(images))


def concept_match(analysis: Analysis, layer: str, before: int, after: int, k: int, seed: int,
                  images: int) -> ArtifactKey:
    """The matching of the concepts of epoch `before` to those of `after` (their atlases' keys)."""
    return artifact(analysis, "concept-match", layer=layer, epoch=after, method="hungarian-pearson", k=int(k),
                    seed=int(seed), images=int(images),
                    before=concept_atlas(analysis, layer, before, k, seed, images).digest())


def concept_exemplar_heat(analysis: Analysis, layer: str, epoch: int, k: int, seed: int, images: int,
                          crops: int) -> ArtifactKey:
    """The heat-maps of each concept over the whole images of its first `crops` exemplars (its atlas's key)."""
    return artifact(analysis, "concept-exemplar-heat", layer=layer, epoch=epoch, method=CONCEPT_METHOD, k=int(k),
                    seed=int(seed), images=int(images), crops=int(crops),
                    atlas=concept_atlas(analysis, layer, epoch, k, seed, images).digest())
