"""The `nnvis` command line: run, summary, layers, serve, the unit lab (topk, select,
cosine, ablate, sparsity, perturb, actmax, strip) and deep visualization (grid, saliency,
filters). Bad input prints one line and exits with status 2."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

from nnvis.cli.check import add_check_command, command_check
from nnvis.cli.compare import COMPARE_COMMANDS, add_compare_command
from nnvis.cli.deepvis import DEEPVIS_COMMANDS, add_deepvis_commands
from nnvis.cli.images import IMAGE_COMMANDS, add_image_commands
from nnvis.cli.integrations import INTEGRATION_COMMANDS, add_integration_commands
from nnvis.cli.neurons import NEURON_COMMANDS, add_neuron_commands
from nnvis.cli.transformers import TRANSFORMER_COMMANDS, add_token_arguments, add_transformer_commands
from nnvis.cli.units import UNIT_COMMANDS, add_unit_commands
from nnvis.data.datasets import DATASETS
from nnvis.data.preprocess import NORMALIZE_HELP, NORMALIZE_NONE
from nnvis.errors import NNVisError
from nnvis.projection.methods import PROJECTIONS
from nnvis.workspace.workspace import DEFAULT_SUBSET, DEVICES, OBSERVATIONS, PRECISIONS, SUBSET_ALL, RunConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nnvis", description="See inside neural networks.")
    commands = parser.add_subparsers(dest="command", required=True)

    run = commands.add_parser("run", help="train or load a model, capture, project and measure")
    run.add_argument("--dataset", required=True, help=f"one of: {', '.join(DATASETS)}")
    run.add_argument("--data-dir", help="folder (or .npz file) holding the data set")
    run.add_argument("--download", action="store_true", help="download the data set (needs internet)")
    add_model_arguments(run)
    run.add_argument("--checkpoints", help="a glob or folder of per-epoch state_dicts to load as epochs (instead "
                     "of training); the epoch of each file is the last whole number in its name")
    run.add_argument("--normalize", default=NORMALIZE_NONE, help=f"the model's input normalisation: {NORMALIZE_HELP}")
    run.add_argument("--image-size", type=int, help="resize the images: the shorter side to this many pixels")
    run.add_argument("--crop", type=int, help="keep the centre CROP x CROP pixels (after --image-size)")
    run.add_argument("--epochs", type=int, default=3)
    run.add_argument("--snapshot-every", type=int, default=1)
    run.add_argument("--observations", default="test",
                     help=f"pool the subset is drawn from: {', '.join(f'{k} ({v})' for k, v in OBSERVATIONS.items())}")
    run.add_argument("--subset", type=subset_size,
                     help=f"observations of the pool to project, or '{SUBSET_ALL}' "
                          f"(default: all, at most {DEFAULT_SUBSET})")
    run.add_argument("--layers", default="all", help="'all' or module paths separated by commas")
    add_token_arguments(run)
    run.add_argument("--projection", default="tsne", help=f"one of: {', '.join(PROJECTIONS)}")
    run.add_argument("--device", default="auto", help=f"one of: {', '.join(DEVICES)}")
    run.add_argument("--precision", default="float32",
                     help=f"autocast for capture (faster on GPUs, values change a little): {', '.join(PRECISIONS)}")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--batch-size", type=int, default=128)
    run.add_argument("--learning-rate", type=float, default=1e-3)
    run.add_argument("--workspace", required=True, help="folder for snapshots and the artifact store")
    run.add_argument("--neuron-maps", choices=("all", "last"), default="all",
                     help="compute the neuron maps of every epoch now, or of the last one only (the others when "
                          "first shown)")

    summary = commands.add_parser("summary", help="print a workspace's figures")
    summary.add_argument("--workspace", required=True)
    summary.add_argument("--json", action="store_true", help="one JSON object on stdout")

    layers = commands.add_parser("layers", help="list a model's layers by module path")
    add_model_arguments(layers)
    layers.add_argument("--dataset", default="digits", help="data set whose image shape the model takes")
    layers.add_argument("--data-dir")
    add_token_arguments(layers)

    serve = commands.add_parser("serve", help="start the dashboard on a workspace")
    serve.add_argument("--workspace", action="append", required=True, help="may be given several times")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8050)
    add_unit_commands(commands)
    add_image_commands(commands)
    add_deepvis_commands(commands)
    add_neuron_commands(commands)
    add_compare_command(commands)
    add_check_command(commands)
    add_transformer_commands(commands)
    add_integration_commands(commands)
    from nnvis.cli.concepts import add_concepts_commands  # `concepts` and `faithfulness`
    add_concepts_commands(commands)
    return parser


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="mlp, cnn, a torchvision name, or module:function (with --weights FILE)")
    parser.add_argument("--weights", help="state_dict file to load into the model")


def subset_size(text: str) -> int | str:
    """--subset: a number of observations, or 'all' for the whole pool."""
    if text == SUBSET_ALL:
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is invalid; allowed: a whole number or '{SUBSET_ALL}'") from None


def command_run(args: argparse.Namespace) -> None:
    from nnvis.progress import TqdmProgress
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import Workspace

    config = RunConfig(dataset=args.dataset, model=args.model, data_dir=args.data_dir, weights=args.weights,
                       epochs=args.epochs, observations=args.observations, subset=args.subset, layers=args.layers,
                       projection=args.projection, device=args.device, precision=args.precision, seed=args.seed,
                       snapshot_every=args.snapshot_every, batch_size=args.batch_size,
                       learning_rate=args.learning_rate, download=args.download, normalize=args.normalize,
                       image_size=args.image_size, crop=args.crop, checkpoints=args.checkpoints,
                       tokens=args.tokens, layout=args.layout)
    progress = TqdmProgress(file=sys.stderr, leave=False)
    try:
        workspace = run(config, args.workspace, progress, neuron_maps=args.neuron_maps)
    finally:
        progress.close()
    print_summary(full_summary(Workspace(workspace.path)))


def full_summary(workspace) -> dict:
    """The workspace's figures (`nnvis.workspace.pipeline.summary`) with trustworthiness and continuity."""
    from nnvis.workspace.analysis import Analysis, faithfulness_summary
    from nnvis.workspace.pipeline import summary

    return {**summary(workspace), **faithfulness_summary(Analysis(workspace))}


def print_summary(figures: dict) -> None:
    """A human-readable table of accuracy and NH per layer and epoch."""
    pool = OBSERVATIONS[figures["observations"]]
    print(f"{figures['dataset']} / {figures['model']}, {figures['subset']} observations of {pool}, "
          f"{figures['projection']} projections")
    print("accuracy: " + ", ".join(f"epoch {e}: {a:.4f}" for e, a in figures["accuracy"].items()))
    for layer, by_epoch in figures["nh"].items():
        print(f"NH {layer}: " + ", ".join(f"epoch {e}: {v:.4f}" for e, v in by_epoch.items()))
    if "trustworthiness" in figures:
        print(f"trustworthiness / continuity (k = 7, on {figures['faithfulness_observations']} observations):")
        for layer, by_epoch in figures["trustworthiness"].items():
            print(f"T/C {layer}: " + ", ".join(f"epoch {e}: {v:.4f}/{figures['continuity'][layer][e]:.4f}"
                                            for e, v in by_epoch.items()))


def command_summary(args: argparse.Namespace) -> None:
    from nnvis.workspace.workspace import Workspace

    figures = full_summary(Workspace(args.workspace))
    if args.json:
        print(json.dumps(figures))
    else:
        print_summary(figures)


def command_layers(args: argparse.Namespace) -> None:
    from nnvis.cli.transformers import print_layers

    print_layers(args)


def command_serve(args: argparse.Namespace) -> None:
    """Serve through the web side's own entry point (`python app.py`), in this process's place:
    the backend never imports the web layer; the settings travel as NNVIS_* variables."""
    from nnvis.settings import Settings

    settings = trust_named_models(Settings.from_env(workspaces=args.workspace, host=args.host, port=args.port))
    entry = web_entry_point()
    os.execve(sys.executable, [sys.executable, entry], {**os.environ, **settings.to_env()})


def web_entry_point() -> str:
    """The path of the dashboard's `app.py` (located, not imported)."""
    spec = importlib.util.find_spec("app")
    if spec is None or not spec.origin or Path(spec.origin).name != "app.py":
        raise NNVisError("cannot find the dashboard (app.py): install nnvis with `pip install -e .` "
                         "from its repository, or run `python app.py` there")
    return spec.origin


def trust_named_models(settings):
    """`settings` with the models its workspaces name now (read once, at start) on the allow-list:
    the user who types `nnvis serve --workspace W` vouches for W's model as it is now; a later edit
    of workspace.json that names another model is still refused by the server."""
    from dataclasses import replace

    from nnvis.models.trust import is_built_in
    from nnvis.workspace.workspace import Workspace

    named = []
    for path in settings.workspaces:
        try:
            spec = Workspace(path).config().model if Workspace(path).exists() else None
        except NNVisError:
            continue  # a damaged workspace: the server leaves it out and says why
        if spec and not is_built_in(spec) and spec not in settings.model_allow:
            print(f"nnvis serve: trusting model {spec!r} of {path} (named by the workspace now)", file=sys.stderr)
            named.append(spec)
    return replace(settings, model_allow=settings.model_allow + tuple(named))


def command_concepts_wing(args: argparse.Namespace) -> None:
    from nnvis.cli.concepts import CONCEPTS_COMMANDS
    CONCEPTS_COMMANDS[args.command](args)


COMMANDS = {"run": command_run, "summary": command_summary, "layers": command_layers, "serve": command_serve,
            **UNIT_COMMANDS, **IMAGE_COMMANDS, **DEEPVIS_COMMANDS, **NEURON_COMMANDS, **COMPARE_COMMANDS,
            "check": command_check, **TRANSFORMER_COMMANDS, **INTEGRATION_COMMANDS,
            "concepts": command_concepts_wing, "faithfulness": command_concepts_wing}


def main(argv: list[str] | None = None) -> int:
    if os.getcwd() not in sys.path and "" not in sys.path:  # `--model mynet:build` from mynet.py's folder, as python -m
        sys.path.insert(0, os.getcwd())
    args = build_parser().parse_args(argv)
    try:
        COMMANDS[args.command](args)
    except NNVisError as error:
        print(f"nnvis {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nnvis {args.command}: interrupted; finished results are kept in the store", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
