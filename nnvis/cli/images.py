"""The image-producing unit commands of the `nnvis` command line: `actmax` (activation
maximization of one unit, PNG per restart) and `strip` (Shang's structure strip, one grid PNG).

`nnvis.cli.commands` adds them with `add_image_commands(commands)` and dispatches through IMAGE_COMMANDS.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from PIL import Image

from nnvis.errors import NNVisError
from nnvis.unitlab.actmax import ActMaxParams
from nnvis.validation import whole_number
from nnvis.workspace.workspace import DEVICES

_DEFAULTS = ActMaxParams()


def add_image_commands(commands: argparse._SubParsersAction) -> None:
    """Add `actmax` and `strip` to the `nnvis` subcommands."""
    actmax = commands.add_parser("actmax", help="activation maximization of one unit (PNG per restart)")
    add_common_arguments(actmax)
    actmax.add_argument("--layer", required=True, help="module path of the layer (see `nnvis layers`)")
    actmax.add_argument("--unit", type=int, required=True, help="neuron or channel index in the layer")
    actmax.add_argument("--restarts", type=int, default=_DEFAULTS.restarts, help="runs from different noise")
    actmax.add_argument("--steps", type=int, default=_DEFAULTS.steps)
    actmax.add_argument("--learning-rate", type=float, default=_DEFAULTS.learning_rate,
                        help="mean change of a pixel (in [0, 1]) per step")
    actmax.add_argument("--l2-decay", type=float, default=_DEFAULTS.l2_decay, help="shrink towards grey per step")
    actmax.add_argument("--blur-every", type=int, default=_DEFAULTS.blur_every, help="0: no blur")
    actmax.add_argument("--blur-sigma", type=float, default=_DEFAULTS.blur_sigma, help="Gaussian width in pixels")
    actmax.add_argument("--norm-percentile", type=float, default=_DEFAULTS.norm_percentile,
                        help="reset pixels of small norm (0: off)")
    actmax.add_argument("--contribution-percentile", type=float, default=_DEFAULTS.contribution_percentile,
                        help="reset pixels of small contribution (0: off)")
    actmax.add_argument("--jitter", type=int, default=_DEFAULTS.jitter,
                        help="random shift in pixels per step (0: off; 2-8 for conv nets on large images)")
    actmax.add_argument("--seed", type=int, default=_DEFAULTS.seed)
    actmax.add_argument("--size", type=int, default=224, help="PNG size in pixels (crisp upscaling)")

    strip = commands.add_parser("strip", help="Shang's structure strip: top-9 feature maps of layers st..sp")
    add_common_arguments(strip)
    source = strip.add_mutually_exclusive_group(required=True)
    source.add_argument("--image", type=int, help="index of an observation of the workspace's subset")
    source.add_argument("--image-file", help="a PNG or JPEG file (at most 10 MB, 4096 pixels a side)")
    strip.add_argument("--layers", help="module paths separated by commas (instead of --start/--stop/--step)")
    strip.add_argument("--start", type=int, default=0, help="first layer, an index into the layers with maps")
    strip.add_argument("--stop", type=int, help="last layer, included (default: the last)")
    strip.add_argument("--step", type=int, default=1)
    strip.add_argument("--k", type=int, default=9, help="maps per layer")
    strip.add_argument("--cell", type=int, default=64, help="pixels per map in the grid")


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--epoch", type=int, help="snapshot epoch (default: the last)")
    parser.add_argument("--device", choices=DEVICES, help="default: the workspace's")
    parser.add_argument("--out", required=True, help="folder for the PNG files (created if missing)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def open_analysis(args: argparse.Namespace):
    """The workspace's Analysis with a progress bar on stderr, and the epoch asked for."""
    from nnvis.progress import run_progress
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    analysis = Analysis(Workspace(args.workspace), device=args.device,
                        progress=run_progress(sys.stderr))
    epoch = analysis.epochs[-1] if args.epoch is None else args.epoch
    analysis.weights(epoch)  # NNVisError naming the epochs there are
    return analysis, epoch


def out_folder(path: str) -> Path:
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NNVisError(f"cannot create output folder {folder}: {error.strerror or error}") from None
    return folder


def report(args: argparse.Namespace, result: dict, lines: list[str]) -> None:
    print(json.dumps(result) if args.json else "\n".join(lines))


def command_actmax(args: argparse.Namespace) -> None:
    from nnvis.data.images import to_png
    from nnvis.unitlab.actmax import actmax_for

    whole_number(args.size, "--size", 1)
    params = ActMaxParams(steps=args.steps, learning_rate=args.learning_rate, l2_decay=args.l2_decay,
                          blur_every=args.blur_every, blur_sigma=args.blur_sigma,
                          norm_percentile=args.norm_percentile, contribution_percentile=args.contribution_percentile,
                          jitter=args.jitter, restarts=args.restarts, seed=args.seed).validate()
    analysis, epoch = open_analysis(args)
    folder = out_folder(args.out)
    started = time.perf_counter()
    try:
        result = actmax_for(analysis, args.layer, epoch, args.unit, params)
    finally:
        analysis.progress.close()
    seconds = time.perf_counter() - started
    stem = f"actmax-{args.layer.replace('/', '_')}-unit{args.unit}-epoch{epoch}"
    files = []
    for restart, image in enumerate(result.images):
        path = folder / f"{stem}-restart{restart}.png"
        path.write_bytes(to_png(image, args.size))
        files.append(str(path))
    activations = [float(a) for a in result.activations]
    report(args, {"layer": args.layer, "unit": args.unit, "epoch": epoch, "device": analysis.device,
                  "steps": result.steps_done, "activations": activations, "files": files, "seconds": seconds},
           [f"{args.layer} unit {args.unit}, epoch {epoch}: activation per restart "
            + ", ".join(f"{a:.4g}" for a in activations) + f" ({seconds:.1f} s on {analysis.device})"]
           + [f"wrote {path}" for path in files])


def command_strip(args: argparse.Namespace) -> None:
    from nnvis.deepvis.strip import read_image_file, strip_grid, structure_strip

    whole_number(args.cell, "--cell", 1)
    analysis, epoch = open_analysis(args)
    analysis.progress.close()
    image_shape = tuple(analysis.manifest["image_shape"])
    if args.image is not None:
        whole_number(args.image, "--image", 0, analysis.config.subset - 1, problem="is outside the subset")
        image, source = analysis.subset()["images"][args.image], f"image{args.image}"
    else:
        image, source = read_image_file(args.image_file, image_shape), Path(args.image_file).stem
    layers = [name.strip() for name in args.layers.split(",") if name.strip()] if args.layers else None
    rows = structure_strip(analysis.model(epoch), image, layers, start=args.start, stop=args.stop, step=args.step,
                           k=args.k, device=analysis.device)
    path = out_folder(args.out) / f"strip-{source}-epoch{epoch}.png"
    Image.fromarray(strip_grid(rows, image, cell=args.cell)).save(path)
    summaries = [row.summary() for row in rows]
    report(args, {"epoch": epoch, "image": args.image if args.image is not None else args.image_file,
                  "layers": summaries, "file": str(path)},
           [f"{s['layer']} ({s['n_channels']} channels, maps {s['map_size'][0]}x{s['map_size'][1]}): top "
            + ", ".join(f"{c} ({a:.3g})" for c, a in zip(s["channels"], s["alphas"])) for s in summaries]
           + [f"wrote {path}"])


IMAGE_COMMANDS = {"actmax": command_actmax, "strip": command_strip}
