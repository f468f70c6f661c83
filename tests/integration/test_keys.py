"""The store keys (nnvis.workspace.keys) are those the code built before they had one place:
each key function's key, for fixed arguments, equals the key of the expression the computing
code used to write (kept here verbatim), so existing workspaces keep their cached artifacts;
except t-SNE's and UMAP's projections and what is made of them, which run on the shared
neighbour graph (PCA-50 above 100 units) since issue 29 and carry `graph=GRAPH_PATH`: the old
key of such an artifact names a projection of the path before, never served as one of this."""

from dataclasses import dataclass, replace

import pytest

from nnvis.models.layers import INPUT_LAYER
from nnvis.projection.knn import GRAPH_PATH
from nnvis.projection.methods import TSNE_STOP, UMAP_SCHEDULE
from nnvis.projection.metrics import FAITHFULNESS_KS
from nnvis.projection.neurons import DEFAULT_SCORING
from nnvis.projection.trails import ALIGNED_TSNE_ITERATIONS, COHERENCE, NH_ALLOWANCE, TIE_NEIGHBOURS, check_coherence
from nnvis.unitlab.actmax import ActMaxParams
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.store import ArtifactKey


def old_key(analysis, kind, *, layer="", epoch=-1, method="", **params):
    """Analysis.key as it was."""
    weights = analysis.weights(epoch) if epoch >= 0 else ""
    if epoch >= 0 and analysis.config.precision != "float32":
        params = {"precision": analysis.config.precision, **params}
    if epoch >= 0:
        params = {**analysis.preprocess.key(), **params}
    subset = f"{analysis.config.observations}-{analysis.config.subset}-seed{analysis.config.seed}"
    base = ArtifactKey(kind, analysis.manifest["dataset_id"], subset, weights, layer, epoch, method)
    return base.with_params(**params) if params else base


def old_projection_key(analysis, layer, epoch, method=None):
    method = method or analysis.config.projection
    epoch = -1 if layer == INPUT_LAYER else epoch
    return old_key(analysis, "projection", layer=layer, epoch=epoch, method=method, seed=analysis.config.seed)


def old_faithfulness_key(analysis, layer, epoch, method=None):
    key = old_projection_key(analysis, layer, epoch, method)
    cap = analysis.faithfulness_sample()
    used = analysis.config.subset if cap is None else min(cap, analysis.config.subset)
    return replace(key, kind="faithfulness").with_params(**dict(key.params), ks=",".join(map(str, FAITHFULNESS_KS)),
                                                         observations=used)


def old_sequence_key(analysis, kind, anchor, method, coherence=None):
    coherence = check_coherence(coherence, method)
    tied = {} if coherence == "chain" else {"coherence": coherence}
    if coherence not in COHERENCE:
        tied["tie"] = f"kept-neighbours-{TIE_NEIGHBOURS}"
    if kind == "layers":
        return old_key(analysis, "sequence", layer=",".join(analysis.layers), epoch=int(anchor), method=method,
                       seed=analysis.config.seed, **tied)
    weights = ",".join(analysis.weights(e) for e in analysis.epochs)
    return old_key(analysis, "sequence", layer=str(anchor), method=method, weights_by_epoch=weights,
                   seed=analysis.config.seed, **tied)


@dataclass
class Side:
    analysis: Analysis
    layer: str
    epoch: int


def old_identity(side):
    epoch = -1 if side.layer == INPUT_LAYER else side.epoch
    return old_key(side.analysis, "activations", layer=side.layer, epoch=epoch).digest()


def old_pair_key(a, b, kind, **params):
    subset = old_key(a.analysis, "subset")
    return ArtifactKey(kind, subset.dataset, subset.subset, layer=f"{a.layer}|{b.layer}", epoch=-1).with_params(
        sides=f"{old_identity(a)}|{old_identity(b)}", **params)


def on_graph(key):
    """`key` as the shared-graph path names it: the old key plus graph=GRAPH_PATH, for t-SNE its
    stop once NH has settled, and for a t-SNE sequence of initialised frames their schedule
    (nnvis.projection.trails)."""
    schedule = {"schedule": "ee{}-main{}-nh{}".format(*ALIGNED_TSNE_ITERATIONS, NH_ALLOWANCE)} \
        if key.kind in ("sequence", "bundled-trails") and key.method == "tsne" and \
        dict(key.params).get("coherence") != "independent" else {}
    method = key.method or dict(key.params).get("method")
    stop = {"tsne_stop": TSNE_STOP} if method == "tsne" else {"umap_epochs": UMAP_SCHEDULE} if method == "umap" else {}
    return key.with_params(**dict(key.params), graph=GRAPH_PATH, **schedule, **stop)


def old_aligned_pair_key(a, b, method):
    return old_pair_key(a, b, "aligned-pair", method=method, seed=a.analysis.config.seed)


ACTMAX = ActMaxParams(steps=40, restarts=2)
ON_GRAPH = ("projection", "faithfulness", "bundled-trails",
            "sequence on the graph", "aligned-pair")


def pairs(a: Analysis, layer: str) -> dict[str, tuple[ArtifactKey, ArtifactKey]]:
    """(new key, old key) per artifact kind, for fixed arguments."""
    first, last = Side(a, layer, 1), Side(a, INPUT_LAYER, 2)
    return {
        "subset": (keys.subset(a), old_key(a, "subset")),
        "subset-labels": (keys.subset_labels(a), old_key(a, "subset-labels")),
        "thumbnail": (keys.thumbnail(a, 7, 96), old_key(a, "thumbnail", index=7, size=96)),
        "activations": (keys.activations(a, layer, 2), old_key(a, "activations", layer=layer, epoch=2)),
        "input activations": (keys.activations(a, INPUT_LAYER, 2), old_key(a, "activations", layer=INPUT_LAYER)),
        "activations-by-unit": (keys.activations_by_unit(a, layer, 1),
                                old_key(a, "activations-by-unit", layer=layer, epoch=1)),
        "input by unit": (keys.activations_by_unit(a, INPUT_LAYER, 1),
                          old_key(a, "activations-by-unit", layer=INPUT_LAYER, epoch=-1)),
        "probabilities": (keys.probabilities(a, 1), old_key(a, "probabilities", epoch=1)),
        "prediction-table": (keys.prediction_table(a, 2), old_key(a, "prediction-table", epoch=2)),
        "accuracy": (keys.accuracy(a, 2), old_key(a, "accuracy", epoch=2)),
        "projection": (keys.projection(a, layer, 1, "tsne"), old_projection_key(a, layer, 1, "tsne")),
        "default projection": (keys.projection(a, layer, 2), old_projection_key(a, layer, 2)),
        "input projection": (keys.projection(a, INPUT_LAYER, 2), old_projection_key(a, INPUT_LAYER, 2)),
        "pca projection": (keys.projection(a, layer, 1, "pca"), old_projection_key(a, layer, 1, "pca")),
        "faithfulness": (keys.faithfulness(a, layer, 1, "umap"), old_faithfulness_key(a, layer, 1, "umap")),
        "neuron_map": (keys.neuron_map(a, layer, 1), old_key(a, "neuron_map", layer=layer, epoch=1, method="mds-live",
                                                              seed=a.config.seed, scoring=DEFAULT_SCORING)),
        "neuron_map seeded": (keys.neuron_map(a, layer, 1, "extratrees", 3),
                              old_key(a, "neuron_map", layer=layer, epoch=1, method="mds-live", seed=3,
                                      scoring="extratrees")),
        "class_cosine": (keys.class_cosine(a, layer, 2), old_key(a, "class_cosine", layer=layer, epoch=2)),
        "sparsity": (keys.sparsity(a, layer, 2, 0.01, 20),
                     old_key(a, "sparsity", layer=layer, epoch=2, threshold=0.01, bins=20)),
        "ablation": (keys.ablation(a, layer, 1, "global", 5, "subset"),
                     old_key(a, "ablation", layer=layer, epoch=1, method="global", count=5, on="subset")),
        "intact ablation": (keys.ablation(a, layer, 1, "per-image", 0, "test"),
                            old_key(a, "ablation", layer=layer, epoch=1, method="none", count=0, on="test")),
        "perturbation": (keys.perturbation(a, 2, [layer, "hidden4"], 0.04, 5, "test"),
                         old_key(a, "perturbation", epoch=2, method="gaussian", layers=f"{layer},hidden4",
                                 variance=0.04, seed=5, on="test")),
        "unit_maps": (keys.unit_maps(a, layer, 1, 3, 9), old_key(a, "unit_maps", layer=layer, epoch=1, unit=3, k=9)),
        "actmax": (keys.actmax(a, layer, 2, 4, ACTMAX.as_key()),
                   old_key(a, "actmax", layer=layer, epoch=2, method="yosinski2015", unit=4, **ACTMAX.as_key())),
        "sequence of layers": (keys.sequence(a, "layers", 1, "pca"), old_sequence_key(a, "layers", 1, "pca")),
        "sequence of epochs": (keys.sequence(a, "epochs", layer, "pca", "independent"),
                               old_sequence_key(a, "epochs", layer, "pca", "independent")),
        "bundled-trails": (keys.bundled_trails(a, "epochs", layer, "tsne"),
                           ArtifactKey(**{**old_sequence_key(a, "epochs", layer, "tsne").__dict__,
                                          "kind": "bundled-trails"})),
        "sequence on the graph": (keys.sequence(a, "layers", 1, "umap", "independent"),
                                  old_sequence_key(a, "layers", 1, "umap", "independent")),
        "aligned-pair": (keys.aligned_pair(first, last, "tsne"), old_aligned_pair_key(first, last, "tsne")),
        "pca aligned-pair": (keys.aligned_pair(first, last, "pca"), old_aligned_pair_key(first, last, "pca")),
        "comparison": (keys.pair(first, last, "neighbourhood-change", k=15),
                       old_pair_key(first, last, "neighbourhood-change", k=15)),
        "identity": (keys.side_identity(first), old_identity(first)),
    }


@pytest.fixture(scope="module", params=["float32", "bfloat16"])
def analysis(request, digits_workspace):
    """The digits workspace as it is, and as if run in bfloat16 (keys gain the precision)."""
    found = Analysis(digits_workspace)
    found.config = replace(found.config, precision=request.param)
    return found


def test_every_key_function_gives_the_key_the_code_wrote_before(analysis):
    """Unchanged where the computation is; t-SNE and UMAP on the shared graph: the old key plus
    the graph's path, so a projection the old path stored is not found under the new key."""
    layer = analysis.layers[0]
    for kind, (new, old) in pairs(analysis, layer).items():
        if kind in ON_GRAPH:
            assert new == on_graph(old) and new.digest() != old.digest(), kind
            continue
        assert new == old, kind
        if isinstance(new, ArtifactKey):
            assert new.digest() == old.digest(), kind


def test_keys_differ_where_the_artifacts_differ(analysis):
    layer = analysis.layers[0]
    found = pairs(analysis, layer)
    digests = [new.digest() if isinstance(new, ArtifactKey) else new for new, _ in found.values()]
    assert len(set(digests)) == len(digests)
    assert keys.ablation(analysis, layer, 1, "global", 0, "test") == keys.ablation(analysis, layer, 1, "per-image",
                                                                                   0, "test")


def test_the_analysis_reads_what_the_key_functions_name(digits_workspace):
    """The workspace's stored projection, accuracy and activations are found under the keys."""
    analysis = Analysis(digits_workspace)
    layer, epoch = analysis.layers[-1], analysis.epochs[-1]
    assert analysis.has_projection(layer, epoch)
    assert keys.projection(analysis, layer, epoch) in analysis.store
    assert keys.activations(analysis, layer, epoch) in analysis.store
    assert keys.probabilities(analysis, epoch) in analysis.store
    assert keys.ablation_sweep(analysis, layer, epoch, "global", [1, 2], "test") == [
        keys.ablation(analysis, layer, epoch, "global", count, "test") for count in (0, 1, 2)]
