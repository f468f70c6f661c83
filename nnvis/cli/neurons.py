"""`nnvis neurons`: the neuron map on the command line. For each neuron of a layer: its map
position, best class, score, whether it is live, and its mean activation per class."""

from __future__ import annotations

import argparse
import json

import numpy as np

from nnvis.projection.neurons import DEFAULT_SCORING, SCORINGS


def add_neuron_commands(commands) -> None:
    """Add `neurons` to the CLI's subparsers object."""
    neurons = commands.add_parser("neurons", help="the neuron map: position, best class, score, live, class means")
    neurons.add_argument("--workspace", required=True)
    neurons.add_argument("--layer", required=True, help="a captured hidden layer (module path)")
    neurons.add_argument("--epoch", type=int, help="a recorded epoch (default: the last)")
    neurons.add_argument("--seed", type=int, help="seed of the map layout (and of extratrees; default: the run's)")
    neurons.add_argument("--scoring", default=DEFAULT_SCORING,
                         help="; ".join(f"{name}: {meaning}" for name, meaning in SCORINGS.items()))
    neurons.add_argument("--json", action="store_true", help="one JSON object on stdout")


def neuron_table(analysis, layer: str, epoch: int | None, seed: int | None = None,
                 scoring: str = DEFAULT_SCORING) -> dict:
    """The neuron map of `layer` as a JSON-ready dict: the settings, counts and one entry per
    neuron (`unit`, `x`, `y`, `best_class`, `best_class_name`, `score`, `live`, `class_means`;
    position, best class and score are null for a dead neuron)."""
    from nnvis.errors import NNVisError
    from nnvis.models.layers import INPUT_LAYER
    from nnvis.projection.neurons import best_classes
    from nnvis.unitlab.lab import resolve_epoch

    if analysis.check_layer(layer) == INPUT_LAYER:
        raise NNVisError(f"layer '{INPUT_LAYER}' has pixels, not neurons; allowed: {', '.join(analysis.layers)}")
    epoch = resolve_epoch(analysis, epoch)
    seed = analysis.config.seed if seed is None else seed
    found = analysis.neuron_map(layer, epoch, scoring, seed)
    best, score = best_classes(found["scores"], found["live"])
    neurons = []
    for unit, ((x, y), live) in enumerate(zip(found["positions"].tolist(), found["live"].tolist())):
        placed = live and not np.isnan(x)
        neurons.append({"unit": unit, "x": x if placed else None, "y": y if placed else None,
                        "best_class": int(best[unit]) if live else None,
                        "best_class_name": analysis.classes[best[unit]] if live else None,
                        "score": float(score[unit]) if live else None, "live": bool(live),
                        "class_means": [None if np.isnan(v) else round(float(v), 6)
                                        for v in found["class_means"][:, unit]]})
    live_count = int(found["live"].sum())
    return {"layer": layer, "epoch": epoch, "seed": seed, "scoring": scoring, "classes": analysis.classes,
            "observations": len(analysis.labels), "units": len(neurons), "live": live_count,
            "dead": len(neurons) - live_count, "neurons": neurons}


def table_lines(table: dict) -> list[str]:
    """The table as readable text: a heading, then one line per neuron."""
    names, w = table["classes"], max(7, *map(len, table["classes"]))   # whole class names, aligned columns
    lines = [f"{table['layer']}, epoch {table['epoch']}, seed {table['seed']}: {table['units']} neurons, "
             f"{table['live']} live, {table['dead']} dead (never active on the {table['observations']} observations)",
             f"score: {SCORINGS[table['scoring']]}",
             f"{'unit':>5} {'x':>7} {'y':>7} {'best':>{w}} {'score':>7}  live  mean activation per class",
             " " * (38 + w) + " ".join(f"{n:>{w}}" for n in names)]
    for n in table["neurons"]:
        where = f"{n['x']:7.3f} {n['y']:7.3f}" if n["x"] is not None else f"{'-':>7} {'-':>7}"
        best = f"{n['best_class_name']:>{w}} {n['score']:7.4f}" if n["live"] else f"{'-':>{w}} {'-':>7}"
        means = " ".join(f"{v:{w}.3f}" if v is not None else f"{'-':>{w}}" for v in n["class_means"])
        lines.append(f"{n['unit']:>5} {where} {best}  {'yes' if n['live'] else 'DEAD':>4}  {means}")
    return lines


def command_neurons(args: argparse.Namespace) -> None:
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    table = neuron_table(Analysis(Workspace(args.workspace)), args.layer, args.epoch, args.seed, args.scoring)
    print(json.dumps(table) if args.json else "\n".join(table_lines(table)))


NEURON_COMMANDS = {"neurons": command_neurons}
