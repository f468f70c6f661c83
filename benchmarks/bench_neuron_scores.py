"""Which score of neuron j for class c should colour the neuron map? Candidates measured on a
workspace's layer (the paper's MNIST MLP run, `hidden4`, last epoch, by default), live neurons
only (those whose activation varies over the subset):

    python benchmarks/bench_neuron_scores.py --workspace WS [--layer hidden4] [--epoch E]
        [--candidates extratrees-30,auc,...] [--json OUT]

For each candidate, the best class argmax_c S(c, j) of every live neuron is compared:
(a) between seed 0 and seed 1, (b) with the class of the neuron's highest mean activation,
(d) between the two halves of the subset (a seeded split, seed 0: a check of stability over
the data, which a seedless score does not pass by construction as it does (a)), and (c) the
seconds one scoring took (seed 0, whole subset, after an untimed warm-up on 200 x 5 values).
Targets (issue 17): (a) >= 0.9, (b) >= 0.7, (c) <= 30 s on the 2-core machine.

Candidates: `extratrees-N` (Rauber et al.'s S(c, j): importance in N extremely randomized trees
per class vs rest, max_features sqrt), `totally-random-N` (the same with max_features 1),
`perm-extratrees-30` (permutation importance, one repeat, of the 30-tree forests: the drop in
class-c AUC of the forest's probability), `perm-logistic` (permutation importance, one repeat,
of an L2 logistic regression per class vs rest on standardized activations), `selectivity`
((mean_c - mean_rest) / (mean_c + mean_rest)), `smd` (standardized mean difference), `auc`
(nnvis's default: AUC of the neuron alone, class vs rest).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import ROOT, load, load_text, machine, machine_line, print_table, write_json  # noqa: E402

sys.path.insert(0, str(ROOT))  # nnvis from this checkout
from nnvis.projection.neurons import class_auc, class_means  # noqa: E402
from nnvis.unitlab.stats import live_units  # noqa: E402
from nnvis.workspace.analysis import Analysis  # noqa: E402
from nnvis.workspace.workspace import Workspace  # noqa: E402

DEFAULT_CANDIDATES = ("extratrees-30", "extratrees-300", "extratrees-1000", "totally-random-30", "totally-random-300",
                      "perm-extratrees-30", "perm-logistic", "selectivity", "smd", "auc")


def forest_scores(x, labels, n_classes, seed, trees: int, max_features) -> np.ndarray:
    from sklearn.ensemble import ExtraTreesClassifier

    scores = np.zeros((n_classes, x.shape[1]))
    for c in range(n_classes):
        forest = ExtraTreesClassifier(n_estimators=trees, max_features=max_features, min_samples_leaf=2,
                                      random_state=seed, n_jobs=1)
        scores[c] = forest.fit(x, labels == c).feature_importances_
    return scores


def auc_of(score: np.ndarray, target: np.ndarray) -> float:
    return float(class_auc(score[:, None], target.astype(np.int64), 2)[1, 0])


def permutation_scores(x, labels, n_classes, seed, model: str) -> np.ndarray:
    """Drop in class-c AUC when neuron j's column is permuted (one repeat) in a per-class model."""
    from sklearn.ensemble import ExtraTreesClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(seed)
    if model == "logistic":
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-12)
    scores = np.zeros((n_classes, x.shape[1]))
    for c in range(n_classes):
        target = labels == c
        perm = rng.permutation(len(x))
        if model == "logistic":
            fitted = LogisticRegression(C=0.1, max_iter=500).fit(x, target)
            w = fitted.coef_[0]
            logit = x @ w + fitted.intercept_[0]
            base = auc_of(logit, target)
            for j in range(x.shape[1]):  # linear: permuting column j shifts the logit by w_j (x_perm - x)
                scores[c, j] = base - auc_of(logit + w[j] * (x[perm, j] - x[:, j]), target)
            continue
        forest = ExtraTreesClassifier(n_estimators=30, max_features="sqrt", min_samples_leaf=2, random_state=seed,
                                      n_jobs=1).fit(x, target)
        base = auc_of(forest.predict_proba(x)[:, 1], target)
        shuffled = x.copy()
        for j in range(x.shape[1]):
            shuffled[:, j] = x[perm, j]
            scores[c, j] = base - auc_of(forest.predict_proba(shuffled)[:, 1], target)
            shuffled[:, j] = x[:, j]
    return scores


def mean_contrast(x, labels, n_classes, standardized: bool) -> np.ndarray:
    scores = np.zeros((n_classes, x.shape[1]))
    for c in range(n_classes):
        inside, rest = x[labels == c], x[labels != c]
        if standardized:
            pooled = ((len(inside) - 1) * inside.var(axis=0) + (len(rest) - 1) * rest.var(axis=0)) / (len(x) - 2)
            scores[c] = (inside.mean(axis=0) - rest.mean(axis=0)) / np.maximum(np.sqrt(pooled), 1e-12)
        else:
            total = inside.mean(axis=0) + rest.mean(axis=0)
            scores[c] = (inside.mean(axis=0) - rest.mean(axis=0)) / np.maximum(total, 1e-12)
    return scores


def candidate(name: str):
    """The scoring function (x, labels, n_classes, seed) -> classes x units of a candidate name."""
    kind, _, number = name.rpartition("-")
    if kind == "extratrees":
        return lambda x, y, n, seed: forest_scores(x, y, n, seed, int(number), "sqrt")
    if kind == "totally-random":
        return lambda x, y, n, seed: forest_scores(x, y, n, seed, int(number), 1)
    fixed = {"perm-extratrees-30": lambda x, y, n, seed: permutation_scores(x, y, n, seed, "extratrees"),
             "perm-logistic": lambda x, y, n, seed: permutation_scores(x, y, n, seed, "logistic"),
             "selectivity": lambda x, y, n, seed: mean_contrast(x, y, n, standardized=False),
             "smd": lambda x, y, n, seed: mean_contrast(x, y, n, standardized=True),
             "auc": lambda x, y, n, seed: class_auc(x, y, n)}
    if name not in fixed:
        raise SystemExit(f"unknown candidate '{name}'; allowed: {', '.join(DEFAULT_CANDIDATES)} (any N of trees)")
    return fixed[name]


def measure(name: str, x: np.ndarray, labels: np.ndarray, n_classes: int) -> dict:
    score = candidate(name)
    score(x[:200, :5], labels[:200], n_classes, 0)  # warm-up, not timed: imports and first calls
    start = time.perf_counter()
    seed0 = score(x, labels, n_classes, 0).argmax(axis=0)
    seconds = time.perf_counter() - start
    seed1 = score(x, labels, n_classes, 1).argmax(axis=0)
    means = class_means(x, labels, n_classes)
    halves = [np.sort(h) for h in np.array_split(np.random.default_rng(0).permutation(len(labels)), 2)]
    split = [score(x[h], labels[h], n_classes, 0).argmax(axis=0) for h in halves]
    return {"seed_agreement": float((seed0 == seed1).mean()),
            "mean_agreement": float((seed0 == np.nanargmax(means, axis=0)).mean()),
            "split_half_agreement": float((split[0] == split[1]).mean()), "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--layer", default="hidden4")
    parser.add_argument("--epoch", type=int, help="default: the last")
    parser.add_argument("--candidates", default=",".join(DEFAULT_CANDIDATES))
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results-neuron-scores.json"))
    args = parser.parse_args()
    analysis = Analysis(Workspace(args.workspace))
    epoch = analysis.epochs[-1] if args.epoch is None else args.epoch
    activations = analysis.activations(args.layer, epoch)
    live = live_units(activations)
    x, labels = np.asarray(activations[:, live], np.float32), analysis.labels
    info, before = machine(), load()
    print(machine_line(info))
    print(f"{args.layer}, epoch {epoch}: {live.sum()} live neurons of {len(live)}, {len(labels)} observations")
    results = {}
    for name in args.candidates.split(","):
        results[name] = measure(name, x, labels, len(analysis.classes))
        print(name, results[name], load()["loadavg"], flush=True)
    after = load()
    rows = [("candidate", "(a) seed 0 vs 1", "(b) vs highest mean", "(d) split halves", "(c) seconds")]
    rows += [(name, f"{r['seed_agreement']:.3f}", f"{r['mean_agreement']:.3f}", f"{r['split_half_agreement']:.3f}",
              f"{r['seconds']:.1f}") for name, r in results.items()]
    print_table("best-class agreement over live neurons", rows)
    print(load_text(before, after))
    write_json(args.json, {"machine": info, "load_before": before, "load_after": after, "layer": args.layer,
                           "epoch": epoch, "live": int(live.sum()), "units": len(live), "results": results})


if __name__ == "__main__":
    main()
