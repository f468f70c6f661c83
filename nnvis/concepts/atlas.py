"""The concept atlas of a layer at an epoch of a workspace, computed once and stored (plain
arrays, keyed by nnvis.workspace.keys.concept_atlas), and its concepts matched across epochs.

The images: a sample of `images` observations of the workspace's subset drawn with `seed`
(all of them when the subset is smaller). The factorisation, the strengths, r2, the shares, the
causal importance, the accuracies and the deletion test are all measured on those images."""

from __future__ import annotations

import numpy as np

from nnvis.concepts import causal, factor
from nnvis.errors import NNVisError
from nnvis.validation import whole_number
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.store import Arrays

DEFAULT_K = 10
DEFAULT_IMAGES = 2000
EXEMPLARS = 9
DELETED = 3  # concepts removed per class in the deletion test
RANDOM_DRAWS = 10


def resolve_epoch(analysis: Analysis, epoch: int | None) -> int:
    """`epoch`, or the last recorded one when None; NNVisError naming the recorded epochs."""
    if epoch is None:
        return analysis.epochs[-1]
    if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or int(epoch) not in analysis.epochs:
        raise NNVisError(f"epoch {epoch} was not recorded; allowed: {', '.join(map(str, analysis.epochs))}")
    return int(epoch)


def sample(analysis: Analysis, seed: int, images: int) -> np.ndarray:
    """The subset rows the atlas uses: `images` of them drawn with `seed`, sorted (all when fewer)."""
    n = analysis.config.subset
    return np.sort(np.random.default_rng(seed).permutation(n)[:min(images, n)])


class Request:
    """What an atlas is of, checked: layer (with spatial positions), epoch, K, seed and images."""

    def __init__(self, analysis: Analysis, layer: str, epoch: int | None = None, k: int = DEFAULT_K, seed: int = 0,
                 images: int = DEFAULT_IMAGES):
        self.analysis = analysis
        self.epoch = resolve_epoch(analysis, epoch)
        self.seed = whole_number(seed, "--seed", 0)
        self.images = whole_number(images, "images", 2)
        self.layer = layer
        self.shape = causal.check_spatial(analysis.model(self.epoch), layer, tuple(analysis.manifest["image_shape"]),
                                          analysis.device)
        self.k = factor.check_k(k, self.shape[0], layer)

    def at(self, epoch: int) -> "Request":
        return Request(self.analysis, self.layer, epoch, self.k, self.seed, self.images)

    def key(self):
        return keys.concept_atlas(self.analysis, self.layer, self.epoch, self.k, self.seed, self.images)


def atlas(request: Request) -> Arrays:
    """The stored atlas of `request`, computed and stored on a miss (see `compute`)."""
    return request.analysis.store.get_or_compute(request.key(), lambda: compute(request))


def has_atlas(request: Request) -> bool:
    return request.key() in request.analysis.store


def compute(request: Request) -> Arrays:
    """Concept directions, strengths, shares, exemplars, r2, accuracies, importance and deletion."""
    analysis, layer = request.analysis, request.layer
    progress = analysis.progress
    model = analysis.model(request.epoch)
    rows = sample(analysis, request.seed, request.images)
    images = analysis.subset()["images"][rows]
    labels = analysis.labels[rows].astype(np.int64)
    maps = causal.layer_maps(model, images, layer, analysis.device, progress=progress)
    n, c, h, w = maps.shape
    positions = factor.check_non_negative(factor.positions(maps), layer)
    del maps
    progress(f"NMF of {layer} (k = {request.k})", 0, 1)
    components, fitted = factor.fit_concepts(positions, request.k, request.seed)
    u = factor.strengths(positions, components)
    progress(f"NMF of {layer} (k = {request.k})", 1, 1)
    r2 = factor.explained_variance(positions, u, components)
    share = factor.shares(u, components)
    del positions
    u_maps = u.reshape(n, h, w, request.k)
    order, ey, ex, value = factor.exemplars(u_maps, EXEMPLARS)
    boxes = causal.receptive_boxes(model, layer, tuple(analysis.manifest["image_shape"]), ey, ex, analysis.device,
                                   request.seed).reshape(*ey.shape, 4)
    measured = measure(model, images, labels, layer, u_maps, components, len(analysis.classes), request.seed,
                       analysis.device, progress)
    return {"components": components, "observations": rows, "labels": labels,
            "strength": u_maps.mean(axis=(1, 2)).astype(np.float32), "share": share,
            "exemplar_observation": rows[order], "exemplar_y": ey, "exemplar_x": ex, "exemplar_strength": value,
            "exemplar_box": boxes, "r2": np.float64(r2), "fit_rows": np.int64(fitted),
            "map_shape": np.array([c, h, w]), **measured}


def measure(model, images: np.ndarray, labels: np.ndarray, layer: str, u_maps: np.ndarray, components: np.ndarray,
            n_classes: int, seed: int, device: str, progress) -> Arrays:
    """Accuracy as is and with the layer replaced by its reconstruction; each concept's importance
    per class (mean drop of the class's logit over its images when the concept is removed); and
    per class the drop in recall when its DELETED most important concepts are removed, vs as many
    drawn at random (mean over RANDOM_DRAWS draws)."""
    k = len(components)
    edits = [None, causal.reconstruction(u_maps, components)] + \
        [causal.removal(u_maps, components, [j]) for j in range(k)]
    logits = causal.edited_logits(model, images, layer, edits, device=device, progress=progress,
                                  stage="concepts removed one by one")
    base, rebuilt, removed = logits[0], logits[1], logits[2:]
    own = np.arange(len(labels))
    drop = base[own, labels][None, :] - removed[:, own, labels]  # (K, N): the true class's logit change
    importance = np.zeros((k, n_classes), dtype=np.float32)
    for c in range(n_classes):
        if (labels == c).any():
            importance[:, c] = drop[:, labels == c].mean(axis=1)
    top, random, recall = (np.full(n_classes, np.nan, dtype=np.float32) for _ in range(3))
    rng = np.random.default_rng(seed)
    count = min(DELETED, k)
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        draws = [rng.choice(k, count, replace=False) for _ in range(RANDOM_DRAWS)]
        if len(members) == 0:
            continue
        best = np.argsort(-importance[:, c], kind="stable")[:count]
        sub_u = u_maps[members]
        class_edits = [causal.removal(sub_u, components, chosen) for chosen in [best, *draws]]
        hits = causal.edited_logits(model, images[members], layer, class_edits, device=device,
                                    stage=f"deletion test, class {c}").argmax(axis=2) == c
        recall[c] = float((base[members].argmax(axis=1) == c).mean())
        top[c] = recall[c] - hits[0].mean()
        random[c] = recall[c] - hits[1:].mean()
        progress("deletion test", c + 1, n_classes)
    return {"accuracy": np.float64((base.argmax(1) == labels).mean()),
            "accuracy_reconstructed": np.float64((rebuilt.argmax(1) == labels).mean()),
            "importance": importance, "recall": recall, "deletion_top": top, "deletion_random": random}


def heat_maps(request: Request, images: np.ndarray) -> np.ndarray:
    """Each concept's strength at every position of the layer for any uint8 images (an
    observation, an upload, a drawing): (n, K, H, W), the atlas's concepts held fixed."""
    found = atlas(request)
    maps = causal.layer_maps(request.analysis.model(request.epoch), images, request.layer, request.analysis.device)
    n, _, h, w = maps.shape
    u = factor.strengths(factor.check_non_negative(factor.positions(maps), request.layer), found["components"])
    return u.reshape(n, h, w, -1).transpose(0, 3, 1, 2)


def matching(request: Request, before: int, after: int) -> Arrays:
    """Concepts of epoch `before` matched to those of `after` (stored): `partner` (for each
    concept of `before`, its concept at `after`) and `score` (their strengths' correlation)."""
    analysis = request.analysis
    key = keys.concept_match(analysis, request.layer, before, after, request.k, request.seed, request.images)

    def compute_match() -> Arrays:
        partner, score = factor.match(atlas(request.at(before))["strength"], atlas(request.at(after))["strength"])
        return {"partner": partner, "score": score}
    return analysis.store.get_or_compute(key, compute_match)


def across_epochs(request: Request) -> list[dict]:
    """For each pair of consecutive epochs: the partner of every concept and its matching score,
    and their mean (the pair's score)."""
    epochs = request.analysis.epochs
    found = []
    for before, after in zip(epochs, epochs[1:]):
        pair = matching(request, before, after)
        found.append({"from": before, "to": after, "partner": pair["partner"].tolist(),
                      "score": [round(float(s), 4) for s in pair["score"]], "mean_score": float(pair["score"].mean())})
    return found


def summary(request: Request, found: Arrays) -> dict:
    """The atlas as `nnvis concepts --json` prints it."""
    classes = request.analysis.classes
    concepts = []
    for j in range(len(found["components"])):
        exemplars = [{"observation": int(o), "y": int(y), "x": int(x)}
                     for o, y, x in zip(found["exemplar_observation"][j], found["exemplar_y"][j],
                                        found["exemplar_x"][j])]
        concepts.append({"id": j, "share": float(found["share"][j]), "exemplars": exemplars,
                         "importance": {name: float(found["importance"][j, c]) for c, name in enumerate(classes)}})
    deletion = {name: {"top": float(found["deletion_top"][c]), "random": float(found["deletion_random"][c])}
                for c, name in enumerate(classes) if not np.isnan(found["deletion_top"][c])}
    return {"layer": request.layer, "epoch": request.epoch, "k": request.k, "r2": float(found["r2"]),
            "accuracy": float(found["accuracy"]), "accuracy_reconstructed": float(found["accuracy_reconstructed"]),
            "concepts": concepts, "deletion": deletion}
