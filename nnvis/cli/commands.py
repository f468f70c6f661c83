"""The `nnvis` command line: run, summary, layers, serve, the unit lab (topk, select,
cosine, ablate, sparsity, perturb, actmax, strip), deep visualization (grid, saliency,
filters), neurons, compare and check. Bad input prints one line and exits with status 2.

It answers at once: this module imports only the standard library and nnvis.cli.choices. The
table COMMANDS names, for each subcommand, the "module:function" that adds its arguments and the
one that runs it; `main` imports the chosen subcommand's module only (`nnvis --help` imports
none), and the handler imports torch and the rest when it runs (see COMMANDS for how to add one)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import NamedTuple

from nnvis.cli.choices import (
    DATASETS,
    DEFAULT_SUBSET,
    DEVICES,
    NORMALIZE_HELP,
    NORMALIZE_NONE,
    OBSERVATIONS,
    PRECISIONS,
    PROJECTIONS,
    SUBSET_ALL,
    check_choice,
)
from nnvis.cli.transformers import add_token_arguments
from nnvis.errors import NNVisError


class Command(NamedTuple):
    """One subcommand: its line in `nnvis --help`, the "module:function" that adds its subparser
    (given the subparsers action; it may add its whole group) and the "module:function" run with
    the parsed arguments. Both are imported only when this subcommand is the one given."""

    help: str
    parser: str
    handler: str


_UNITS, _IMAGES, _DEEPVIS = "nnvis.cli.units", "nnvis.cli.images", "nnvis.cli.deepvis"
_TRANSFORMERS, _INTEGRATIONS, _CONCEPTS = "nnvis.cli.transformers", "nnvis.cli.integrations", "nnvis.cli.concepts"
COMMANDS: dict[str, Command] = {
    "run": Command("train or load a model, capture, project and measure",
                   f"{__name__}:add_run_command", f"{__name__}:command_run"),
    "summary": Command("print a workspace's stored figures (never computes; says what is missing)",
                       "nnvis.cli.summary:add_summary_command", "nnvis.cli.summary:command_summary"),
    "layers": Command("list a model's layers by module path", f"{__name__}:add_layers_command",
                      f"{__name__}:command_layers"),
    "serve": Command("start the dashboard on a workspace", f"{__name__}:add_serve_command",
                     f"{__name__}:command_serve"),
    "topk": Command("the subset observations that activate a unit most",
                    f"{_UNITS}:add_unit_commands", f"{_UNITS}:command_topk"),
    "select": Command("rule-based neuron selection (Shang et al.)", f"{_UNITS}:add_unit_commands",
                      f"{_UNITS}:command_select"),
    "cosine": Command("class x class cosine similarity of per-class mean activations",
                      f"{_UNITS}:add_unit_commands", f"{_UNITS}:command_cosine"),
    "ablate": Command("zero low-activation units and measure top-1/top-5 accuracy",
                      f"{_UNITS}:add_unit_commands", f"{_UNITS}:command_ablate"),
    "sparsity": Command("histograms of alpha per class and the near-zero fraction",
                        f"{_UNITS}:add_unit_commands", f"{_UNITS}:command_sparsity"),
    "perturb": Command("Gaussian input noise: activation cosine and accuracy",
                       f"{_UNITS}:add_unit_commands", f"{_UNITS}:command_perturb"),
    "actmax": Command("activation maximization of one unit (PNG per restart)",
                      f"{_IMAGES}:add_image_commands", f"{_IMAGES}:command_actmax"),
    "strip": Command("Shang's structure strip: top-9 feature maps of layers st..sp",
                     f"{_IMAGES}:add_image_commands", f"{_IMAGES}:command_strip"),
    "grid": Command("every channel of a layer for one input, and the class probabilities",
                    f"{_DEEPVIS}:add_deepvis_commands", f"{_DEEPVIS}:command_grid"),
    "saliency": Command("Captum saliency of a unit or of the predicted class (PNG)",
                        f"{_DEEPVIS}:add_deepvis_commands", f"{_DEEPVIS}:command_saliency"),
    "filters": Command("first-layer filters as images, or a unit's weighted-sum view",
                       f"{_DEEPVIS}:add_deepvis_commands", f"{_DEEPVIS}:command_filters"),
    "neurons": Command("the neuron map: position, best class, score, live, class means",
                       "nnvis.cli.neurons:add_neuron_commands", "nnvis.cli.neurons:command_neurons"),
    "compare": Command("compare two snapshots: movers and NH per class in both",
                       "nnvis.cli.compare:add_compare_command", "nnvis.cli.compare:command_compare"),
    "check": Command("check a workspace's manifest, snapshots and store; --repair fixes",
                     "nnvis.cli.check:add_check_command", "nnvis.cli.check:command_check"),
    "attention": Command("a transformer's class-token attention per layer and head, and rollout, for one image",
                         f"{_TRANSFORMERS}:add_transformer_commands", f"{_TRANSFORMERS}:command_attention"),
    "patches": Command("project a token layer's patch tokens, each one an observation",
                       f"{_TRANSFORMERS}:add_transformer_commands", f"{_TRANSFORMERS}:command_patches"),
    "export-html": Command("write a view as one self-contained HTML page (no server needed)",
                           f"{_INTEGRATIONS}:add_integration_commands", f"{_INTEGRATIONS}:command_export_html"),
    "export": Command("write a layer's activations in another tool's format (TensorBoard's projector)",
                      f"{_INTEGRATIONS}:add_integration_commands", f"{_INTEGRATIONS}:command_export"),
    "concepts": Command("the concept atlas of a convolutional layer (NMF, causal importance per class)",
                        f"{_CONCEPTS}:add_concepts_commands", f"{_CONCEPTS}:command_concepts"),
    "faithfulness": Command("how far to trust a saliency method: deletion, insertion, randomisation",
                            f"{_CONCEPTS}:add_concepts_commands", f"{_CONCEPTS}:command_faithfulness"),
}
"""Every subcommand. To add one: write its module (nnvis/cli/NAME.py) with a function that adds
its subparser, `def add_NAME_command(commands): p = commands.add_parser("NAME", help=...); p.add_argument(...)`,
and its handler `def command_NAME(args) -> None` (raise NNVisError for bad input: one line, exit
status 2); then add one line here:
    "NAME": Command("its line in nnvis --help", "nnvis.cli.NAME:add_NAME_command", "nnvis.cli.NAME:command_NAME"),
Import numpy, torch and the rest inside the handler (or at the top of the module: it is imported
only when NAME is run). `nnvis --help` imports none of these modules; tests/unit/test_cli_startup.py
checks that every entry's parser adds it and that `--help` imports no heavy library."""


class OneLineParser(argparse.ArgumentParser):
    """Argument errors as one line (what was wrong, where to read what is allowed), exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def load(spec: str):
    """The function named by "module:function", imported now."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with the full arguments of `command` (its module is imported); every other
    subcommand is only listed. None: all of them listed (enough for `nnvis --help`)."""
    parser = OneLineParser(prog="nnvis", description="See inside neural networks.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    if command in COMMANDS:
        load(COMMANDS[command].parser)(commands)
    for name, spec in COMMANDS.items():
        if name not in commands.choices:
            commands.add_parser(name, help=spec.help, add_help=False)
    return parser


def add_run_command(commands) -> None:
    run = commands.add_parser("run", help=COMMANDS["run"].help)
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


def add_layers_command(commands) -> None:
    layers = commands.add_parser("layers", help=COMMANDS["layers"].help)
    add_model_arguments(layers)
    layers.add_argument("--dataset", default="digits", help="data set whose image shape the model takes")
    layers.add_argument("--data-dir")
    add_token_arguments(layers)


def add_serve_command(commands) -> None:
    serve = commands.add_parser("serve", help=COMMANDS["serve"].help)
    serve.add_argument("--workspace", action="append", required=True, help="may be given several times")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8050)


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
    for name, allowed in (("dataset", DATASETS), ("projection", PROJECTIONS), ("device", DEVICES),
                          ("precision", PRECISIONS), ("observations", tuple(OBSERVATIONS))):
        check_choice(name, getattr(args, name), allowed)  # one line at once, before torch is imported
    from nnvis.cli.summary import keep_summary, print_summary
    from nnvis.progress import run_progress
    from nnvis.workspace.pipeline import run
    from nnvis.workspace.workspace import RunConfig, Workspace

    config = RunConfig(dataset=args.dataset, model=args.model, data_dir=args.data_dir, weights=args.weights,
                       epochs=args.epochs, observations=args.observations, subset=args.subset, layers=args.layers,
                       projection=args.projection, device=args.device, precision=args.precision, seed=args.seed,
                       snapshot_every=args.snapshot_every, batch_size=args.batch_size,
                       learning_rate=args.learning_rate, download=args.download, normalize=args.normalize,
                       image_size=args.image_size, crop=args.crop, checkpoints=args.checkpoints,
                       tokens=args.tokens, layout=args.layout)
    progress = run_progress(sys.stderr)
    try:
        workspace = run(config, args.workspace, progress, neuron_maps=args.neuron_maps)
    finally:
        progress.close()
    figures = full_summary(Workspace(workspace.path, read_only=True))
    keep_summary(workspace.path, figures)  # `nnvis summary` prints it without importing torch
    print_summary(figures)


def full_summary(workspace) -> dict:
    """What `nnvis summary --json` prints for the nnvis.workspace.workspace.Workspace `workspace`
    (see nnvis.cli.summary.stored_summary)."""
    from nnvis.cli.summary import stored_summary
    from nnvis.workspace.stored import StoredWorkspace

    return stored_summary(StoredWorkspace(workspace))


def command_layers(args: argparse.Namespace) -> None:
    from nnvis.cli.transformers import print_layers

    print_layers(args)


def command_serve(args: argparse.Namespace) -> None:
    """Serve through the web side's own entry point (`python app.py`), in this process's place:
    the backend never imports the web layer; the settings travel as NNVIS_* variables."""
    from nnvis.settings import Settings

    settings = Settings.from_env(workspaces=args.workspace, host=args.host, port=args.port)
    from nnvis.settings import dashboard_entry_point
    from nnvis.workspace.vouch import vouch_for_named_models

    settings = vouch_for_named_models(with_job_cache(settings, os.environ), announce=lambda spec, path: print(
        f"nnvis serve: trusting model {spec!r} of {path} (named by the workspace now)", file=sys.stderr))
    entry = dashboard_entry_point()
    os.execve(sys.executable, [sys.executable, entry], {**os.environ, **settings.to_env()})


def with_job_cache(settings, environ):
    """`settings` with its job cache in the user's cache folder, unless NNVIS_JOB_CACHE names one:
    $XDG_CACHE_HOME/nnvis/jobs/<digest of the served workspaces> (by default under ~/.cache), so
    `nnvis serve` writes nothing in the folder it is started from."""
    import hashlib
    from dataclasses import replace

    if environ.get("NNVIS_JOB_CACHE"):
        return settings
    cache = Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    served = "\n".join(str(Path(path).resolve()) for path in settings.workspaces)
    return replace(settings, job_cache=cache / "nnvis" / "jobs" / hashlib.sha256(served.encode()).hexdigest()[:16])


def main(argv: list[str] | None = None) -> int:
    if os.getcwd() not in sys.path and "" not in sys.path:  # `--model mynet:build` from mynet.py's folder, as python -m
        sys.path.insert(0, os.getcwd())
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    try:
        load(COMMANDS[args.command].handler)(args)
    except NNVisError as error:
        print(f"nnvis {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nnvis {args.command}: interrupted; finished results are kept in the store", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
