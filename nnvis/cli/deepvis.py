"""The deep-visualization commands of the `nnvis` command line: `grid` (every channel of a layer
for one input, and the class probabilities), `saliency` (Captum attributions of a unit or of the
predicted class) and `filters` (first-layer filters, or a unit's weighted-sum view). Each writes
PNG files to --out and prints the numbers behind them (JSON with --json).

`nnvis.cli.commands` adds them with `add_deepvis_commands(commands)` and dispatches through DEEPVIS_COMMANDS.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nnvis.cli.images import add_common_arguments, open_analysis, out_folder, report
from nnvis.errors import NNVisError
from nnvis.validation import whole_number

METHODS = ("gradient", "guided", "integrated")  # nnvis.deepvis.saliency.METHODS, without importing Captum here


def add_deepvis_commands(commands: argparse._SubParsersAction) -> None:
    """Add `grid`, `saliency` and `filters` to the `nnvis` subcommands."""
    grid = commands.add_parser("grid", help="every channel of a layer for one input, and the class probabilities")
    add_common_arguments(grid)
    grid.add_argument("--layer", required=True, help="module path of the layer (see `nnvis layers`)")
    add_input_arguments(grid)
    grid.add_argument("--sort", default="index", help="order of the cells: index or mean (largest first)")
    grid.add_argument("--size", type=int, default=640, help="PNG size in pixels (crisp upscaling)")

    saliency = commands.add_parser("saliency", help="Captum saliency of a unit or of the predicted class (PNG)")
    add_common_arguments(saliency)
    saliency.add_argument("--method", required=True, help=f"one of: {', '.join(METHODS)}")
    target = saliency.add_mutually_exclusive_group(required=True)
    target.add_argument("--unit", type=int, help="neuron or channel index in --layer")
    target.add_argument("--class-of-prediction", action="store_true", help="explain the predicted class")
    saliency.add_argument("--layer", help="module path of the unit's layer (with --unit)")
    add_input_arguments(saliency)
    saliency.add_argument("--steps", type=int, default=32, help="integrated gradients: steps from a black image")
    saliency.add_argument("--size", type=int, default=256, help="PNG size in pixels")

    filters = commands.add_parser("filters", help="first-layer filters as images, or a unit's weighted-sum view")
    add_common_arguments(filters)
    filters.add_argument("--layer", help="with --unit: the unit's layer; without: the first weight layer (default)")
    filters.add_argument("--unit", type=int, help="show this unit as the weighted sum of the previous layer's top-k")
    filters.add_argument("--top-k", type=int, default=9, help="previous units in the weighted sum")
    filters.add_argument("--size", type=int, default=640, help="PNG size in pixels")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--observation", type=int, help="index of an observation of the workspace's subset")
    source.add_argument("--image", help="a PNG or JPEG file (at most 10 MB, 4096 pixels a side)")


def check_size(size: int) -> int:
    return whole_number(size, "--size", 1)


def load_input(args: argparse.Namespace, analysis) -> tuple[np.ndarray, str]:
    """The input image (uint8, the data's layout) and a short name for file names."""
    from nnvis.deepvis.strip import read_image_file

    if args.observation is not None:
        whole_number(args.observation, "--observation", 0, analysis.config.subset - 1, problem="is outside the subset")
        return analysis.subset()["images"][args.observation], f"observation{args.observation}"
    return read_image_file(args.image, tuple(analysis.manifest["image_shape"])), Path(args.image).stem


def write_png(folder: Path, name: str, picture: np.ndarray, size: int) -> str:
    from nnvis.data.images import to_png

    path = folder / name
    path.write_bytes(to_png(picture, size))
    return str(path)


def command_grid(args: argparse.Namespace) -> None:
    from nnvis.deepvis.grid import check_sort, grid_mosaic, heat_picture, layer_grid, model_input

    check_sort(args.sort)
    check_size(args.size)
    analysis, epoch = open_analysis(args)
    analysis.progress.close()
    image, source = load_input(args, analysis)
    model = analysis.model(epoch)
    grid = layer_grid(model, model_input(model, image), args.layer, sort=args.sort, device=analysis.device)
    mosaic, _ = grid_mosaic(grid)
    path = write_png(out_folder(args.out), f"grid-{args.layer}-{source}-epoch{epoch}.png", heat_picture(mosaic),
                     args.size)
    found = {"epoch": epoch, "input": source, "classes": analysis.classes, **grid.summary(), "file": path}
    kind = "units" if grid.dense else f"maps {grid.maps.shape[1]}x{grid.maps.shape[2]}"
    top = np.argsort(-grid.alphas, kind="stable")[:5]
    lines = [f"{args.layer}, epoch {epoch}, {source}: {len(grid.maps)} {kind}, sorted by {args.sort}; "
             "largest mean: " + ", ".join(f"{c} ({grid.alphas[c]:.3g})" for c in top)]
    if grid.probabilities is not None:
        best = int(np.argmax(grid.probabilities))
        lines.append(f"predicted {analysis.classes[best]} ({grid.probabilities[best]:.1%})")
    report(args, found, lines + [f"wrote {path}"])


def command_saliency(args: argparse.Namespace) -> None:
    from nnvis.deepvis.grid import model_input
    from nnvis.deepvis.saliency import Explainer, check_method
    from nnvis.models.feature_maps import overlay
    from nnvis.models.layout import parse_layouts

    check_method(args.method)
    check_size(args.size)
    if args.unit is not None and not args.layer:
        raise NNVisError("--unit needs --layer (the module path of the unit's layer)")
    if args.class_of_prediction and args.layer:
        raise NNVisError("--layer goes with --unit; --class-of-prediction explains the model's output")
    analysis, epoch = open_analysis(args)
    analysis.progress.close()
    image, source = load_input(args, analysis)
    model = analysis.model(epoch)
    explainer = Explainer(model, analysis.device, steps=args.steps, tokens=analysis.config.tokens,
                          layouts=parse_layouts(analysis.config.layout))
    x = model_input(model, image)
    if args.unit is not None:
        found = explainer.unit(x, args.layer, args.unit, args.method)
        what, stem = f"{args.layer} unit {args.unit}", f"{args.layer}-unit{args.unit}"
    else:
        found = explainer.predicted_class(x, args.method)
        what, stem = f"predicted class {analysis.classes[found.class_index]}", f"class{found.class_index}"
    path = write_png(out_folder(args.out), f"saliency-{args.method}-{stem}-{source}-epoch{epoch}.png",
                     overlay(image, found.saliency), args.size)
    summary = found.summary()
    if found.class_index is not None:
        summary["class_name"] = analysis.classes[found.class_index]
    report(args, {"epoch": epoch, "input": source, **summary, "file": path},
           [f"{found.captum} of {what}, epoch {epoch}, {source}: value {found.value:.4g}, "
            f"largest |attribution| {found.peak:.4g}" + (" (no gradient reaches the input)" if found.peak == 0 else ""),
            f"wrote {path}"])


def command_filters(args: argparse.Namespace) -> None:
    from nnvis.deepvis.grid import (
        first_layer_filters,
        resolve_weight_layer,
        signed_unit,
        tile,
        weight_picture,
        weighted_sum_view,
    )

    check_size(args.size)
    if args.unit is not None and not args.layer:
        raise NNVisError("--unit needs --layer (the module path of the unit's layer)")
    analysis, epoch = open_analysis(args)
    analysis.progress.close()
    model = analysis.model(epoch)
    image_shape = tuple(analysis.manifest["image_shape"])
    folder = out_folder(args.out)
    if args.unit is None:
        filters = first_layer_filters(model, image_shape)
        if args.layer and resolve_weight_layer(model.module, args.layer) != filters.layer:
            raise NNVisError(f"filters as images exist for the first weight layer '{filters.layer}' only; for layer "
                             f"'{args.layer}' give --unit U to see a unit as a weighted sum of filters")
        mosaic, _ = tile(weight_picture(filters.images), gap=1, fill=255)
        path = write_png(folder, f"filters-{filters.layer}-epoch{epoch}.png", mosaic, args.size)
        summary = filters.summary()
        report(args, {"epoch": epoch, **summary, "file": path},
               [f"{filters.layer}, epoch {epoch}: {summary['n_filters']} filters of shape "
                f"{'x'.join(map(str, summary['filter_shape']))}, L2 norms "
                f"{min(summary['norms']):.3g}..{max(summary['norms']):.3g}", f"wrote {path}"])
        return
    found = weighted_sum_view(model, image_shape, args.layer, args.unit, args.top_k)
    stem = f"wsum-{args.layer}-unit{args.unit}-epoch{epoch}"
    files = [write_png(folder, f"{stem}.png", weight_picture(signed_unit(found.view[None])[0]), args.size)]
    if len(found.contributors):
        mosaic, _ = tile(weight_picture(signed_unit(found.contributor_views)), gap=1, fill=255)
        files.append(write_png(folder, f"{stem}-top{len(found.contributors)}.png", mosaic, args.size))
    report(args, {"epoch": epoch, **found.summary(), "files": files},
           [f"{args.layer} unit {args.unit}, epoch {epoch}: weighted sum over {' -> '.join(found.chain)}",
            "top units by |weight|: " + (", ".join(f"{i} ({w:+.3g})" for i, w in zip(found.contributors, found.weights))
                                         or "(first layer: its own filter)")]
           + [f"wrote {path}" for path in files])


DEEPVIS_COMMANDS = {"grid": command_grid, "saliency": command_saliency, "filters": command_filters}
