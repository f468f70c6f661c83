"""The unit commands of the CLI: topk, select, cosine, ablate, sparsity, perturb. Each reads a
workspace, prints JSON with --json and a short table otherwise."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np


def add_unit_commands(commands) -> None:
    """Add the unit commands to the CLI's subparsers object."""
    topk = _command(commands, "topk", "the subset observations that activate a unit most")
    topk.add_argument("--unit", type=int, required=True)
    topk.add_argument("--k", type=int, default=9)

    select = _command(commands, "select", "rule-based neuron selection (Shang et al.)")
    select.add_argument("--rule", required=True, choices=["max", "intersection", "difference"])
    select.add_argument("--observations", required=True, help="subset indices separated by commas")
    select.add_argument("--n", type=int, default=9, help="top-n units per observation")
    select.add_argument("--target", type=int, help="difference rule: the observation set against the others "
                                                   "(default: the first)")

    _command(commands, "cosine", "class x class cosine similarity of per-class mean activations")

    ablate = _command(commands, "ablate", "zero low-activation units and measure top-1/top-5 accuracy")
    ablate.add_argument("--mode", default="per-image", help="per-image (lowest alpha of each image) or global "
                                                            "(lowest dataset-mean alpha)")
    amount = ablate.add_mutually_exclusive_group(required=True)
    amount.add_argument("--fraction", type=float, help="fraction of the layer's units to zero, 0..1")
    amount.add_argument("--count", type=int, help="number of units to zero")
    amount.add_argument("--sweep", nargs="?", const="default", metavar="FRACTIONS",
                        help="fractions separated by commas (default 0, 0.1, ..., 0.9, 0.95, 0.99, 1)")
    ablate.add_argument("--on", default="test", help="test (the whole test split) or subset")

    sparsity = _command(commands, "sparsity", "histograms of alpha per class and the near-zero fraction")
    sparsity.add_argument("--threshold", type=float, default=0.01, help="|alpha| at or below it counts as zero")
    sparsity.add_argument("--bins", type=int, default=20)

    perturb = _command(commands, "perturb", "Gaussian input noise: activation cosine and accuracy", layer=False)
    perturb.add_argument("--layer", help="captured layers separated by commas (default: all)")
    perturb.add_argument("--variance", type=float, default=0.01)
    perturb.add_argument("--seed", type=int, default=0)
    perturb.add_argument("--on", default="test", help="test (the whole test split) or subset")


def _command(commands, name: str, help_text: str, *, layer: bool = True) -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help_text)
    parser.add_argument("--workspace", required=True)
    if layer:
        parser.add_argument("--layer", required=True, help="a captured layer (module path)")
    parser.add_argument("--epoch", type=int, help="a recorded epoch (default: the last)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    return parser


def _open(args: argparse.Namespace):
    from nnvis.unitlab.lab import resolve_epoch
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(args.workspace))
    return analysis, resolve_epoch(analysis, args.epoch)


def _plain(value):
    """JSON-ready: arrays to lists, NaN to null."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in (value.tolist() if isinstance(value, np.ndarray) else value)]
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _emit(args: argparse.Namespace, result: dict, lines: list[str]) -> None:
    print(json.dumps(_plain(result)) if args.json else "\n".join(lines))


def _number_list(text: str, what: str, kind: type = int) -> list:
    """Numbers separated by commas, as `kind`; NNVisError naming the flag otherwise."""
    from nnvis.errors import NNVisError

    try:
        return [kind(part) for part in text.split(",") if part.strip()]
    except ValueError:
        noun = "integers" if kind is int else "numbers"
        raise NNVisError(f"{what} '{text}' is not a list of {noun} separated by commas") from None


def command_topk(args: argparse.Namespace) -> None:
    from nnvis.unitlab.lab import top_examples

    analysis, epoch = _open(args)
    found = top_examples(analysis, args.layer, epoch, args.unit, args.k)
    result = {"layer": args.layer, "epoch": epoch, "unit": args.unit, **found}
    lines = [f"{args.layer} unit {args.unit}, epoch {epoch}: top {len(found['observations'])} of "
             f"{analysis.config.subset} observations"]
    width = max(len("class"), *map(len, analysis.classes))  # whole class names, columns aligned
    lines += [f"rank  observation  test index  {'class':>{width}}  alpha"]
    lines += [f"{r + 1:>4}  {o:>11}  {t:>10}  {analysis.classes[c]:>{width}}  {a:.4f}" for r, (o, t, c, a)
              in enumerate(zip(found["observations"], found["test_index"], found["labels"], found["alpha"]))]
    _emit(args, result, lines)


def command_select(args: argparse.Namespace) -> None:
    from nnvis.unitlab.lab import select
    from nnvis.validation import parse_ranges

    analysis, epoch = _open(args)
    observations = parse_ranges(args.observations, "--observations")
    units = select(analysis, args.layer, epoch, args.rule, observations, args.n, args.target)
    if args.rule == "max":
        picked = {str(o): u for o, u in zip(observations, units)}
        lines = [f"observation {o}: units {', '.join(map(str, u.tolist()))}" for o, u in picked.items()]
    else:
        picked = units
        lines = [f"{args.rule} rule, top-{args.n}: units {', '.join(map(str, units.tolist())) or '(none)'}"]
    _emit(args, {"layer": args.layer, "epoch": epoch, "rule": args.rule, "n": args.n,
                 "observations": observations, "units": picked}, lines)


def command_cosine(args: argparse.Namespace) -> None:
    from nnvis.unitlab.lab import class_similarity

    analysis, epoch = _open(args)
    matrix = class_similarity(analysis, args.layer, epoch)
    names = [c[:8] for c in analysis.classes]
    lines = [f"{args.layer}, epoch {epoch}: cosine of per-class mean activations",
             " " * 9 + " ".join(f"{n:>8}" for n in names)]
    lines += [f"{name:>8} " + " ".join(f"{v:8.3f}" for v in row) for name, row in zip(names, matrix)]
    _emit(args, {"layer": args.layer, "epoch": epoch, "classes": analysis.classes, "cosine": matrix}, lines)


def command_ablate(args: argparse.Namespace) -> None:
    from nnvis.unitlab.ablation import fraction_to_count
    from nnvis.unitlab.lab import ablation_sweep, activations, first_drop

    analysis, epoch = _open(args)
    units = activations(analysis, args.layer, epoch).shape[1]
    if args.sweep is not None:
        fractions = None if args.sweep == "default" else _number_list(args.sweep, "--sweep", float)
        sweep = ablation_sweep(analysis, args.layer, epoch, args.mode, fractions=fractions, on=args.on)
    else:
        count = args.count if args.count is not None else fraction_to_count(args.fraction, units)
        sweep = ablation_sweep(analysis, args.layer, epoch, args.mode, counts=[count], on=args.on)
    drop = first_drop(sweep)
    lines = [f"{args.layer}, epoch {epoch}: {args.mode} ablation of {units} units on the {args.on} images",
             f"{'intact':>16}  top-1 {sweep['baseline_top1']:.4f}  top-5 {sweep['baseline_top5']:.4f}"]
    lines += [f"zero {c:>5} ({f:.2f})  top-1 {t1:.4f}  top-5 {t5:.4f}  top-1 change "
              f"{(t1 - sweep['baseline_top1']) * 100:+.2f} points"
              for c, f, t1, t5 in zip(sweep["count"], sweep["fraction"], sweep["top1"], sweep["top5"])]
    if args.sweep is not None:
        lines.append(f"top-1 first falls by more than 1 point at {drop} units" if drop is not None
                     else "top-1 never falls by more than 1 point")
    _emit(args, {"layer": args.layer, "epoch": epoch, "mode": args.mode, "on": args.on, **sweep,
                 "first_drop": drop}, lines)


def command_sparsity(args: argparse.Namespace) -> None:
    from nnvis.unitlab.lab import layer_sparsity

    analysis, epoch = _open(args)
    found = layer_sparsity(analysis, args.layer, epoch, args.threshold, args.bins)
    lines = [f"{args.layer}, epoch {epoch}: {found['near_zero'] * 100:.1f}% of alphas have |alpha| <= "
             f"{args.threshold}", "class  near zero"]
    lines += [f"{c[:8]:>8}  {v * 100:.1f}%" for c, v in zip(analysis.classes, found["class_near_zero"])]
    _emit(args, {"layer": args.layer, "epoch": epoch, "threshold": args.threshold, "classes": analysis.classes,
                 **found}, lines)


def command_perturb(args: argparse.Namespace) -> None:
    from nnvis.unitlab.lab import perturbation

    analysis, epoch = _open(args)
    layers = [name.strip() for name in args.layer.split(",") if name.strip()] if args.layer else None
    found = perturbation(analysis, epoch, layers, args.variance, args.seed, args.on)
    lines = [f"epoch {epoch}: Gaussian noise of variance {args.variance} on the {args.on} images",
             f"top-1 {found['top1_clean']:.4f} -> {found['top1_noisy']:.4f}, "
             f"top-5 {found['top5_clean']:.4f} -> {found['top5_noisy']:.4f}", "layer  mean cosine clean/noisy"]
    lines += [f"{layer}  {c:.4f}" for layer, c in zip(found["layers"], found["cosine"])]
    _emit(args, {"epoch": epoch, "variance": args.variance, "seed": args.seed, "on": args.on, **found}, lines)


UNIT_COMMANDS = {"topk": command_topk, "select": command_select, "cosine": command_cosine,
                 "ablate": command_ablate, "sparsity": command_sparsity, "perturb": command_perturb}
