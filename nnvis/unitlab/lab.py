"""The unit analyses of a workspace (Shang et al.; top-k examples), each result fetched from
the store or computed once and stored under the key of what produced it.

`on` picks the images that ablation and perturbation run over: "test" (the whole test split)
or "subset" (the workspace's seeded sample, what every view shows)."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from nnvis.errors import NNVisError
from nnvis.models.feature_maps import feature_maps
from nnvis.models.layers import INPUT_LAYER
from nnvis.progress import Progress, no_progress
from nnvis.unitlab import ablation as ab
from nnvis.unitlab.actmax import ActMaxParams, ActMaxResult, actmax_for
from nnvis.unitlab.layouts import given_layouts, workspace_tokens
from nnvis.unitlab.perturbation import check_variance
from nnvis.unitlab.perturbation import perturbation as perturb_model
from nnvis.unitlab.rules import difference_rule, intersection_rule, max_rule
from nnvis.unitlab.similarity import class_cosine
from nnvis.unitlab.stats import dead_unit_note, mean_of_top_k, sparsity, top_k, unit_histograms
from nnvis.validation import one_of, whole_number
from nnvis.workspace import keys
from nnvis.workspace.analysis import Analysis
from nnvis.workspace.store import Arrays

RULES = ("max", "intersection", "difference")
IMAGE_SETS = ("test", "subset")
SWEEP_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1.0)


def resolve_epoch(analysis: Analysis, epoch: int | None) -> int:
    """`epoch`, or the last recorded one when None; NNVisError for an epoch without a snapshot."""
    if epoch is None:
        return analysis.epochs[-1]
    if epoch not in analysis.epochs:
        raise NNVisError(f"epoch {epoch} was not recorded; allowed: {', '.join(map(str, analysis.epochs))}")
    return int(epoch)


def activations(analysis: Analysis, layer: str, epoch: int | None) -> np.ndarray:
    """The subset's alpha at a captured layer (float32, observations x units)."""
    return analysis.activations(analysis.check_layer(layer), resolve_epoch(analysis, epoch)).astype(np.float32)


def hidden_layer(analysis: Analysis, layer: str) -> str:
    """A captured layer that is a module (not the `input` pseudo-layer), for forward hooks."""
    if analysis.check_layer(layer) == INPUT_LAYER:
        raise NNVisError(f"layer '{INPUT_LAYER}' has no module to hook; allowed: {', '.join(analysis.layers)}")
    return layer


def check_observations(analysis: Analysis, observations: list[int]) -> list[int]:
    n = analysis.config.subset
    if not observations:
        raise NNVisError("no observations given; pass subset indices separated by commas")
    return [whole_number(i, "observation", 0, n - 1, problem="is outside the subset") for i in observations]


def dead_note(analysis: Analysis, layer: str, epoch: int | None, unit: int) -> str | None:
    """How `unit` is dead ("never fires on the N observations of the subset"), or None when it
    is live. A dead unit's "top" observations are arbitrary ties, and nothing can maximize it."""
    values = analysis.unit_activations(analysis.check_layer(layer), resolve_epoch(analysis, epoch), unit)
    return dead_unit_note(values)


def top_examples(analysis: Analysis, layer: str, epoch: int | None, unit: int, k: int = 9) -> dict[str, np.ndarray]:
    """The k subset observations that activate `unit` most: their subset index, test-split index,
    label and alpha."""
    x = activations(analysis, layer, epoch)
    best = top_k(x, unit, k, layer=layer)
    return {"observations": best, "test_index": analysis.subset()["index"][best],
            "labels": analysis.labels[best], "alpha": x[best, unit]}


def select(analysis: Analysis, layer: str, epoch: int | None, rule: str, observations: list[int], n: int = 9,
           target: int | None = None) -> list[np.ndarray] | np.ndarray:
    """Rule-based neuron selection over subset observations: max gives the top-n units of each
    observation; intersection and difference one set of units (difference: `target`, default the
    first observation, against the others)."""
    one_of(rule, RULES, "rule")
    rows = activations(analysis, layer, epoch)[check_observations(analysis, observations)]
    if rule == "max":
        return [max_rule(row, n) for row in rows]
    if rule == "intersection":
        return intersection_rule(rows, n)
    target = observations[0] if target is None else target
    if target not in observations:
        raise NNVisError(f"target {target} is not among the observations {observations}")
    return difference_rule(rows, observations.index(target), n)


def class_similarity(analysis: Analysis, layer: str, epoch: int | None) -> np.ndarray:
    """The class x class cosine similarity of per-class mean activations over the subset."""
    epoch = resolve_epoch(analysis, epoch)
    key = keys.class_cosine(analysis, layer, epoch)
    return analysis.store.get_or_compute(key, lambda: {"cosine": class_cosine(
        activations(analysis, layer, epoch), analysis.labels, len(analysis.classes))})["cosine"]


def layer_sparsity(analysis: Analysis, layer: str, epoch: int | None, threshold: float = 0.01,
                   bins: int = 20) -> Arrays:
    """Histograms of alpha (overall and per class) and the near-zero fraction over the subset."""
    epoch = resolve_epoch(analysis, epoch)
    key = keys.sparsity(analysis, layer, epoch, threshold, bins)
    return analysis.store.get_or_compute(key, lambda: sparsity(
        activations(analysis, layer, epoch), analysis.labels, len(analysis.classes), threshold, bins))


def check_on(on: str) -> str:
    return one_of(on, IMAGE_SETS, "image set")


def images(analysis: Analysis, on: str) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images and labels of the test split or of the subset (loaded on a cache miss only)."""
    if check_on(on) == "subset":
        subset = analysis.subset()
        return subset["images"], subset["labels"]
    return analysis.dataset.test_images, analysis.dataset.test_labels


def ablation(analysis: Analysis, layer: str, epoch: int | None, mode: str, count: int, on: str = "test") -> Arrays:
    """Top-1 and top-5 accuracy with `count` units of `layer` zeroed (count 0: the intact model).
    Global mode ranks units by their mean alpha over the workspace's subset."""
    epoch = resolve_epoch(analysis, epoch)
    mode, layer = ab.check_mode(mode), hidden_layer(analysis, layer)
    alpha = activations(analysis, layer, epoch)
    count = ab.check_count(count, alpha.shape[1], layer)
    check_on(on)
    key = keys.ablation(analysis, layer, epoch, mode, count, on)

    def compute() -> Arrays:
        x, y = images(analysis, on)
        result = ab.ablate(analysis.model(epoch), x, y, layer, mode=mode, count=count,
                           mean_alpha=alpha.mean(axis=0), device=analysis.device, progress=analysis.progress,
                           layouts=given_layouts(analysis), tokens=workspace_tokens(analysis))
        return {name: np.float64(value) for name, value in result.items()}
    return analysis.store.get_or_compute(key, compute)


def ablation_sweep(analysis: Analysis, layer: str, epoch: int | None, mode: str, *,
                   fractions: list[float] | None = None, counts: list[int] | None = None,
                   on: str = "test") -> dict[str, np.ndarray | float]:
    """Accuracy against the number of zeroed units, given as fractions (floor(p x units)) or
    counts: `count`, `fraction`, `top1`, `top5` per value, and the intact `baseline_top1/5`."""
    units = activations(analysis, layer, epoch).shape[1]
    if counts is None:
        counts = [ab.fraction_to_count(p, units) for p in (SWEEP_FRACTIONS if fractions is None else fractions)]
    counts = [ab.check_count(c, units, layer) for c in counts]
    results = [ablation(analysis, layer, epoch, mode, c, on) for c in counts]
    baseline = ablation(analysis, layer, epoch, mode, 0, on)
    return {"count": np.array(counts), "fraction": np.array(counts) / units, "units": units,
            "top1": np.array([float(r["top1"]) for r in results]),
            "top5": np.array([float(r["top5"]) for r in results]),
            "baseline_top1": float(baseline["top1"]), "baseline_top5": float(baseline["top5"])}


def first_drop(sweep: dict, points: float = 1.0) -> int | None:
    """The first count (in sweep order) whose top-1 is more than `points` percentage points
    below the intact model's, or None when none is."""
    for count, top1 in zip(sweep["count"], sweep["top1"]):
        if (sweep["baseline_top1"] - top1) * 100 > points:
            return int(count)
    return None


def perturbation(analysis: Analysis, epoch: int | None, layers: list[str] | None = None, variance: float = 0.01,
                 seed: int = 0, on: str = "test") -> Arrays:
    """Per-layer mean cosine between clean and noisy activations, and accuracy clean vs noisy."""
    epoch = resolve_epoch(analysis, epoch)
    layers = [hidden_layer(analysis, layer) for layer in (layers or analysis.layers)]
    variance, on = check_variance(variance), check_on(on)
    key = keys.perturbation(analysis, epoch, layers, variance, seed, on)

    def compute() -> Arrays:
        x, y = images(analysis, on)
        return perturb_model(analysis.model(epoch), x, y, layers, variance=variance, seed=seed,
                             device=analysis.device, progress=analysis.progress, layouts=given_layouts(analysis),
                             tokens=workspace_tokens(analysis))
    return analysis.store.get_or_compute(key, compute)


# ---- what the unit lab and layer lab pages read (each cheap once its inputs are stored)

def top_mean_image(analysis: Analysis, layer: str, epoch: int | None, unit: int, k: int = 9) -> np.ndarray:
    """The mean image (float64) of the k subset observations that activate `unit` most."""
    return mean_of_top_k(analysis.subset()["images"], activations(analysis, layer, epoch), unit, k, layer=layer)


def unit_histogram(analysis: Analysis, layer: str, epoch: int | None, unit: int, bins: int = 20) -> dict:
    """One unit's activation histogram per class over the subset: `edges` and `counts` (classes x bins)."""
    return unit_histograms(activations(analysis, layer, epoch), unit, analysis.labels, len(analysis.classes), bins,
                           layer=layer)


def unit_maps(analysis: Analysis, layer: str, epoch: int | None, unit: int, k: int = 9) -> np.ndarray | None:
    """The spatial activation maps (k x H x W, float32) of a conv unit over its top-k subset
    observations, best first; None for a dense layer, whose units have no map. A forward pass
    on a miss: a job's work (`stored_unit_maps` reads them without computing)."""
    epoch = resolve_epoch(analysis, epoch)
    best = top_examples(analysis, hidden_layer(analysis, layer), epoch, unit, k)["observations"]
    key = keys.unit_maps(analysis, layer, epoch, unit, len(best))

    def compute() -> Arrays:
        if len(analysis.layer_shape(layer)) != 3:
            return {"maps": np.zeros((0, 0, 0), np.float32)}
        images = analysis.subset()["images"][best]
        return {"maps": feature_maps(analysis.model(epoch), images, layer, analysis.device)[:, int(unit)]
                .astype(np.float32)}
    maps = analysis.store.get_or_compute(key, compute)["maps"]
    return maps if len(maps) else None


def stored_unit_maps(analysis: Analysis, layer: str, epoch: int | None, unit: int,
                     k: int = 9) -> tuple[bool, np.ndarray | None]:
    """(found, maps) of `unit_maps` from the store alone, computing nothing: found is False when
    they were not computed yet (for a layer known to be dense there is nothing to compute)."""
    epoch = resolve_epoch(analysis, epoch)
    shape = analysis.store.get(keys.layer_shape(analysis, hidden_layer(analysis, layer)))
    if shape is not None and len(shape["shape"]) != 3:
        return True, None
    best = top_examples(analysis, layer, epoch, unit, k)["observations"]
    found = analysis.store.get(keys.unit_maps(analysis, layer, epoch, unit, len(best)))
    if found is None:
        return False, None
    return True, found["maps"] if len(found["maps"]) else None


def actmax_params(fields: dict) -> ActMaxParams:
    """ActMaxParams from JSON values, validated. The float settings are made floats: a browser
    sends 0.0 as 0, and the store key of 0 is not that of 0.0."""
    defaults = asdict(ActMaxParams())
    unknown = sorted(set(fields) - set(defaults))
    if unknown:
        raise NNVisError(f"unknown actmax setting(s) {', '.join(unknown)}; allowed: {', '.join(defaults)}")
    return ActMaxParams(**{name: float(value) if isinstance(defaults[name], float) and isinstance(value, (int, float))
                           and not isinstance(value, bool) else value for name, value in fields.items()}).validate()


def stored_actmax(analysis: Analysis, layer: str, epoch: int, unit: int, params: ActMaxParams) -> ActMaxResult | None:
    """The activation maximization that `actmax_for` stored for these settings, or None (never computes)."""
    found = analysis.store.get(keys.actmax(analysis, layer, epoch, unit, params.validate().as_key()))
    return None if found is None else ActMaxResult.from_arrays(found)


def sweep_counts(analysis: Analysis, layer: str, epoch: int | None) -> list[int]:
    """The unit counts of the default ablation sweep (SWEEP_FRACTIONS of the layer's units)."""
    units = activations(analysis, layer, epoch).shape[1]
    return [ab.fraction_to_count(p, units) for p in SWEEP_FRACTIONS]


def has_ablation_sweep(analysis: Analysis, layer: str, epoch: int | None, mode: str, on: str = "test") -> bool:
    """Whether every point of the default sweep is stored (so `ablation_sweep` computes nothing)."""
    epoch = resolve_epoch(analysis, epoch)
    mode, layer, on = ab.check_mode(mode), hidden_layer(analysis, layer), check_on(on)
    return all(key in analysis.store
               for key in keys.ablation_sweep(analysis, layer, epoch, mode, sweep_counts(analysis, layer, epoch), on))


def cluster_order(matrix: np.ndarray) -> np.ndarray:
    """An order of the classes of a cosine matrix that puts similar classes side by side: the
    leaves of average-linkage clustering on 1 - cosine (an absent class, NaN, counts as unrelated)."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    matrix = np.asarray(matrix, dtype=np.float64)
    if len(matrix) < 3:
        return np.arange(len(matrix))
    distance = np.clip(1.0 - np.nan_to_num(matrix, nan=0.0), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    return leaves_list(linkage(squareform((distance + distance.T) / 2, checks=False), method="average"))


def run_unit_job(analysis: Analysis, request: dict, progress: Progress = no_progress) -> None:
    """The unit and layer labs' background jobs (nnvis.jobs): `actmax` of one unit, the default
    `ablation` sweep of a layer (one stored point at a time with progress per point), a layer's
    class `cosine` similarity, its `sparsity` at a `threshold`, or the `perturbation` of every
    captured layer by noise of a `variance` on the subset."""
    epoch = resolve_epoch(analysis, int(request["epoch"]))
    if request["job"] in LAYER_JOBS:
        progress(request["job"], 0, 1)
        LAYER_JOBS[request["job"]](analysis, request, epoch)
        progress(request["job"], 1, 1)
        return
    if request["job"] == "actmax":
        params = actmax_params(request.get("params", {}))
        actmax_for(analysis, request["layer"], epoch, int(request["unit"]), params, progress=progress)
        return
    quiet = Analysis(analysis.workspace, device=analysis.device)  # one progress bar: the sweep's points
    counts = [0] + sweep_counts(quiet, request["layer"], epoch)
    for done, count in enumerate(counts, start=1):
        ablation(quiet, request["layer"], epoch, request["mode"], count, request.get("on", "test"))
        progress("ablation sweep", done, len(counts))


LAYER_JOBS = {  # the layer lab's views as jobs: what `run_unit_job` stores for each
    "cosine": lambda analysis, request, epoch: class_similarity(analysis, request["layer"], epoch),
    "sparsity": lambda analysis, request, epoch: layer_sparsity(analysis, request["layer"], epoch,
                                                                float(request["threshold"])),
    "perturbation": lambda analysis, request, epoch: perturbation(analysis, epoch, None, float(request["variance"]),
                                                                  on="subset"),
}
