"""The concept and faithfulness commands of the `nnvis` command line:

- `concepts`: the concept atlas of a convolutional layer at an epoch (nnvis.concepts), computed
  once and stored in the workspace;
- `faithfulness`: deletion/insertion AUC against a random ranking and the model-parameter
  randomisation check of a saliency method over observations (nnvis.deepvis.faithfulness).

`nnvis.cli.commands` adds them with `add_concepts_commands(commands)` and dispatches through
CONCEPTS_COMMANDS; heavy imports wait for the handler, so `nnvis --help` stays quick."""

from __future__ import annotations

import argparse
import json
import sys

DEFAULT_K = 10  # nnvis.concepts.atlas.DEFAULT_K, without importing it here
DEFAULT_IMAGES = 2000
FAITHFULNESS_METHODS = ("gradient", "guided", "integrated")
DEVICES = ("auto", "cpu", "cuda")  # nnvis.workspace.workspace.DEVICES


def add_concepts_commands(commands: argparse._SubParsersAction) -> None:
    """Add `concepts` and `faithfulness` to the `nnvis` subcommands."""
    concepts = commands.add_parser("concepts", help="the concept atlas of a convolutional layer (NMF, causal "
                                                    "importance per class, deletion test)")
    add_workspace_arguments(concepts)
    concepts.add_argument("--layer", required=True, help="module path of a layer with spatial positions (conv)")
    concepts.add_argument("--k", type=int, default=DEFAULT_K, help="number of concepts")
    concepts.add_argument("--seed", type=int, default=0, help="seed of the image sample and of the factorisation")
    concepts.add_argument("--images", type=int, default=DEFAULT_IMAGES,
                          help="observations of the subset the atlas is measured on (all when fewer)")
    concepts.add_argument("--match", action="store_true",
                          help="also print the concepts matched across consecutive epochs (key 'matching')")

    faithfulness = commands.add_parser("faithfulness", help="how far to trust a saliency method: deletion and "
                                                            "insertion AUC vs random, randomisation check")
    add_workspace_arguments(faithfulness)
    faithfulness.add_argument("--method", required=True, help=f"one of: {', '.join(FAITHFULNESS_METHODS)}")
    faithfulness.add_argument("--layer", help="with --unit: explain a unit of this layer (default: the predicted "
                                              "class)")
    faithfulness.add_argument("--unit", type=int, help="neuron or channel index in --layer")
    faithfulness.add_argument("--observations", default="0-63", help="subset indices, e.g. 0-63 or 3,7,12")
    faithfulness.add_argument("--steps", type=int, default=32, help="integrated gradients: steps from a black image")
    faithfulness.add_argument("--seed", type=int, default=0, help="seed of the random ranking and re-initialisation")


def add_workspace_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--epoch", type=int, help="snapshot epoch (default: the last)")
    parser.add_argument("--device", choices=DEVICES, help="default: the workspace's (faithfulness: the CPU)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")


def open_analysis(args: argparse.Namespace):
    from nnvis.progress import TqdmProgress
    from nnvis.workspace.analysis import Analysis
    from nnvis.workspace.workspace import Workspace

    return Analysis(Workspace(args.workspace), device=args.device, progress=TqdmProgress(file=sys.stderr, leave=False))


def command_concepts(args: argparse.Namespace) -> None:
    from nnvis.concepts import atlas as concepts

    analysis = open_analysis(args)
    request = concepts.Request(analysis, args.layer, args.epoch, args.k, args.seed, args.images)
    figures = concepts.summary(request, concepts.atlas(request))
    if args.match:
        figures["matching"] = concepts.across_epochs(request)
    analysis.progress.close()
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['layer']} at epoch {figures['epoch']}: {figures['k']} concepts, r2 {figures['r2']:.3f}, "
          f"accuracy {figures['accuracy']:.3f} (reconstructed {figures['accuracy_reconstructed']:.3f})")
    for concept in figures["concepts"]:
        ranked = sorted(concept["importance"].items(), key=lambda item: -item[1])[:3]
        print(f"concept {concept['id']}: share {concept['share']:.3f}; most important for "
              + ", ".join(f"{name} ({value:+.3f})" for name, value in ranked))
    for name, drop in figures["deletion"].items():
        print(f"deletion {name}: top-3 concepts removed {drop['top']:+.3f} recall, 3 random {drop['random']:+.3f}")
    for pair in figures.get("matching", []):
        print(f"epoch {pair['from']} -> {pair['to']}: matching score {pair['mean_score']:.3f}")


def command_faithfulness(args: argparse.Namespace) -> None:
    from nnvis.deepvis.faithfulness import Faithfulness, check_method, summary
    from nnvis.validation import parse_ranges

    check_method(args.method)
    analysis = open_analysis(args)
    analysis.progress.close()
    epoch = analysis.epochs[-1] if args.epoch is None else args.epoch
    analysis.weights(epoch)  # NNVisError naming the epochs there are
    rows = parse_ranges(args.observations, "--observations", size=analysis.config.subset)
    measures = Faithfulness(analysis.model(epoch), args.method, layer=args.layer, unit=args.unit,
                            steps=args.steps, seed=args.seed)
    figures = summary(args.method, measures.measure(analysis.subset()["images"][rows]))
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{args.method} on {len(rows)} observations at epoch {epoch}: deletion AUC {figures['deletion_auc']:.3f} "
          f"(random {figures['random_deletion_auc']:.3f}, lower is better), insertion AUC "
          f"{figures['insertion_auc']:.3f} (random {figures['random_insertion_auc']:.3f}, higher is better), "
          f"randomisation similarity {figures['randomisation_similarity']:.3f} (high: the map ignores the weights)")


CONCEPTS_COMMANDS = {"concepts": command_concepts, "faithfulness": command_faithfulness}
