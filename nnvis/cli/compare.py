"""`nnvis compare`: two snapshots of the same observations, the observations whose
neighbourhood changed most (movers) and NH per class in both."""

from __future__ import annotations

import argparse
import json

from nnvis.compare.snapshots import K_NEIGHBOURS, TOP_MOVERS


def add_compare_command(commands) -> None:
    """Add `compare` to the CLI's subparsers object."""
    compare = commands.add_parser("compare", help="compare two snapshots: movers and NH per class in both")
    compare.add_argument("--workspace", action="append", required=True,
                         help="once (two epochs or layers of it) or twice (two workspaces over the same observations)")
    compare.add_argument("--layer", action="append", required=True,
                         help="a captured layer; give it twice for a different layer on the second side")
    compare.add_argument("--epoch", action="append", type=int, required=True,
                         help="a recorded epoch; give it twice for a different epoch on the second side")
    compare.add_argument("--projection", help="tsne, umap or pca (default: the first workspace's)")
    compare.add_argument("--top", type=int, default=TOP_MOVERS, help=f"movers to list (default {TOP_MOVERS})")
    compare.add_argument("--json", action="store_true", help="one JSON object on stdout")


def command_compare(args: argparse.Namespace) -> None:
    from nnvis.compare.snapshots import comparison, open_pair
    from nnvis.projection.methods import check_method

    a, b = open_pair(args.workspace, args.layer, args.epoch)
    method = check_method(args.projection or a.analysis.config.projection)
    result = comparison(a, b, method, args.top)
    print(json.dumps(result) if args.json else "\n".join(text_lines(result)))


def text_lines(result: dict) -> list[str]:
    """The comparison as a short report: movers, then NH per class in both."""
    lines = [f"A = {result['a']}", f"B = {result['b']}",
             f"{result['observations']} observations keep on average {result['mean_kept']:.1%} of their "
             f"{K_NEIGHBOURS} nearest neighbours; NH ({result['method']}, aligned) {result['nh']['a']:.4f} -> "
             f"{result['nh']['b']:.4f}",
             "(aligned: B's projection starts from A's, so NH differs a little from each snapshot's own projection, "
             "as `nnvis summary` and the dashboard's explore page show it)", "", f"top {len(result['movers'])} movers"]
    names = list(result["nh_per_class"]["a"])
    width = max(len("predicted A"), *map(len, names))  # whole class names, columns aligned
    lines += [f"observation  kept  {'class':>{width}}  {'predicted A':>{width}}  {'predicted B':>{width}}"]
    lines += [f"{m['index']:>11}  {m['kept']:>4.0%}  {m['class']:>{width}}  {m['prediction_a']:>{width}}  "
              f"{m['prediction_b']:>{width}}" for m in result["movers"]]
    lines += ["", f"{'class':>{width}}    NH A    NH B"]
    for name, before in result["nh_per_class"]["a"].items():
        after = result["nh_per_class"]["b"][name]
        if before is None or after is None:
            continue
        verdict = result["class_change"][name]
        lines.append(f"{name:>{width}}  {before:.4f}  {after:.4f}" + ("" if verdict == "same" else f"  {verdict}"))
    return lines


COMPARE_COMMANDS = {"compare": command_compare}
