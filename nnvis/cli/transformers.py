"""Transformers on the command line: `--tokens` and `--layout` (run, layers), `nnvis layers`
(each layer's layout, per-call names of a module called twice, which tokens stand for an
image and why), `nnvis attention` (class-token attention per layer and head, and rollout) and
`nnvis patches` (--tokens patches: each patch token an observation, projected)."""

from __future__ import annotations

import argparse


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tokens", choices=None, default=None,
                        help="token layers (N, T, D): which tokens stand for an image: cls (the class token; with a "
                             "distillation token the mean of both; the default where the model has one), mean (of the "
                             "patch tokens; the default otherwise)")
    parser.add_argument("--layout", help="a layer's output layout where the model cannot say: KIND or LAYER=KIND,... "
                                         "(channels-first, channels-last, tokens, tokens:P, sequence-first, vector)")


def add_transformer_commands(commands) -> None:
    attention = commands.add_parser("attention", help="a transformer's class-token attention per layer and head, and "
                                                      "attention rollout, for one image")
    attention.add_argument("--workspace", required=True)
    source = attention.add_mutually_exclusive_group(required=True)
    source.add_argument("--observation", type=int, help="index of an observation of the workspace's subset")
    source.add_argument("--image", help="a PNG or JPEG file")
    attention.add_argument("--epoch", type=int, help="default: the last")
    attention.add_argument("--layer", help="one attention module (default: every one)")
    attention.add_argument("--head", type=int, help="one head (default: every head, and their mean)")
    attention.add_argument("--out", required=True, help="folder for the maps (PNG) and attention.json")
    attention.add_argument("--json", action="store_true", help="print the result as JSON")
    add_patch_command(commands)


def add_patch_command(commands) -> None:
    patches = commands.add_parser("patches", help="project a token layer's patch tokens, each one an observation "
                                                  "(--tokens patches): a seeded sample, with image and grid position")
    patches.add_argument("--workspace", required=True)
    patches.add_argument("--layer", required=True, help="a token layer of the workspace")
    patches.add_argument("--epoch", type=int, help="default: the last")
    patches.add_argument("--sample", type=int, default=20_000, help="at most this many patch tokens (seeded)")
    patches.add_argument("--projection", help="tsne, umap or pca (default: the workspace's)")
    patches.add_argument("--out", required=True, help="folder for patches.csv (x, y, image, label, row, column)")
    patches.add_argument("--json", action="store_true", help="print the summary as JSON")


def command_patches(args: argparse.Namespace) -> None:
    """`nnvis patches`: the sampled patch tokens of a token layer projected to 2-D, written as
    patches.csv, one row per token: its point, its image (subset index) and class, its grid cell."""
    import csv

    from nnvis.cli.images import open_analysis, out_folder, report
    from nnvis.validation import whole_number
    from nnvis.workspace.patch_tokens import patch_projection

    args.device = None
    whole_number(args.sample, "--sample", 1)
    analysis, epoch = open_analysis(args)
    found = patch_projection(analysis, args.layer, epoch, args.projection, args.sample)
    method = args.projection or analysis.config.projection
    points = found["points"]
    folder = out_folder(args.out)
    with open(folder / "patches.csv", "w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["x", "y", "image", "label", "class", "row", "column"])
        for i in range(len(points)):
            label = int(found["label"][i])
            writer.writerow([f"{points[i, 0]:.6g}", f"{points[i, 1]:.6g}", int(found["image"][i]), label,
                             analysis.classes[label], int(found["row"][i]), int(found["column"][i])])
    grid = [int(n) for n in found["grid"]]
    result = {"layer": args.layer, "epoch": epoch, "projection": method, "tokens": len(points),
              "units": int(found["units"]), "grid": grid, "nh": float(found["nh"].mean()),
              "file": str(folder / "patches.csv")}
    report(args, result, [f"{len(points)} patch tokens of {args.layer} (epoch {epoch}, {grid[0]}x{grid[1]} "
                          f"grid, {result['units']} units), {method}: NH {result['nh']:.4f}; wrote {result['file']}"])


def print_layers(args: argparse.Namespace) -> None:
    """`nnvis layers`: every module path with its class, the defaults and why, each default's
    layout, and which tokens stand for an image."""
    from nnvis.data.datasets import load_dataset
    from nnvis.models.activations import probe_layouts
    from nnvis.models.layers import INPUT_LAYER, default_layer_reasons, list_layers
    from nnvis.models.layout import parse_layouts, resolve_tokens
    from nnvis.models.zoo import build_model

    dataset = load_dataset(args.dataset, args.data_dir)
    model = build_model(args.model, image_shape=dataset.image_shape, n_classes=dataset.n_classes,
                        weights=args.weights)
    module = model.module
    probe = dataset.test_images[:2]
    try:
        reasons = default_layer_reasons(module, model.input_tensor(probe))
    except (RuntimeError, ValueError, IndexError, TypeError) as error:  # the data's images do not fit the model
        reasons, layouts = default_layer_reasons(module), {}
        print(f"(the model does not take {args.dataset}'s {'x'.join(map(str, dataset.image_shape))} images, so the "
              "defaults are not checked by a forward pass and layouts are not shown: "
              f"{str(error).splitlines()[0][:120]}; pass the --dataset the model is for)")
    else:
        layouts = probe_layouts(model, probe, list(reasons), parse_layouts(args.layout))
    print(INPUT_LAYER + "  (raw pixels)")
    modules = dict(module.named_modules())
    called = {name.split("#")[0]: [] for name in reasons if "#" in name}
    for name in reasons:
        if "#" in name:
            called[name.split("#")[0]].append(name)
    for name in list_layers(module):
        for shown in called.get(name, [name]):
            layout = f" ({layouts[shown]})" if shown in layouts else ""
            why = f"  [default] {reasons[shown]}{layout}" if shown in reasons else ""
            print(f"{shown}  {type(modules[name]).__name__}{why}")
    for name, why in reasons.items():
        if name.endswith(":input"):
            layout = f" ({layouts[name]})" if name in layouts else ""
            print(f"{name}  (input of {type(modules[name[:-len(':input')].split('#')[0]]).__name__})  [default] {why}"
                  f"{layout}")
    tokens = resolve_tokens(args.tokens, layouts) if layouts else None
    if tokens:
        prefix = max(layout.prefix for layout in layouts.values() if layout.is_tokens)
        why = {"cls": f"the model has {prefix} prefix token(s); the class token stands for an image"
                      + (" (with the distillation token: their mean)" if any(lay.distilled for lay in layouts.values())
                         else ""),
               "mean": "the mean of the patch tokens stands for an image (prefix tokens never averaged in)"}[tokens]
        print(f"tokens: {tokens} ({why}; --tokens cls|mean chooses)")


def command_attention(args: argparse.Namespace) -> None:
    """`nnvis attention`: the class token's attention per layer and head (and their mean) over
    the image, and attention rollout, as PNG heat overlays in --out and attention.json."""
    import json

    import numpy as np

    from nnvis.cli.deepvis import load_input, write_png
    from nnvis.cli.images import open_analysis, out_folder, report
    from nnvis.deepvis.attention import attention_maps
    from nnvis.errors import NNVisError
    from nnvis.models.feature_maps import overlay
    from nnvis.validation import whole_number

    args.device = None
    analysis, epoch = open_analysis(args)
    image, name = load_input(args, analysis)
    model = analysis.model(epoch)
    x = model.input_tensor(image[None])
    found = attention_maps(model.module, x, [args.layer] if args.layer else None)
    heads = len(next(iter(found.maps.values())))
    if args.head is not None:
        whole_number(args.head, "--head", 0, heads - 1, problem="is not a head of the model")
    folder = out_folder(args.out)
    files = [write_png(folder, f"{name}_rollout.png", overlay(image, found.rollout), 256)]
    result = {"epoch": epoch, "image": name, "prefix_tokens": found.prefix, "grid": list(found.grid),
              "heads": heads, "rollout": found.rollout.round(6).tolist(), "layers": {}}
    for layer, maps in found.maps.items():
        chosen = {"mean": maps.mean(axis=0)} if args.head is None else {}
        chosen.update({f"head{h}": maps[h] for h in range(heads) if args.head in (None, h)})
        result["layers"][layer] = {key: value.round(6).tolist() for key, value in chosen.items()}
        files += [write_png(folder, f"{name}_{layer}_{key}.png", overlay(image, value), 256)
                  for key, value in chosen.items()]
    if not np.isfinite(found.rollout).all():
        raise NNVisError("the attention weights are not finite; the snapshot's weights may be damaged")
    result["files"] = files
    (folder / "attention.json").write_text(json.dumps(result))
    lines = [f"attention of {name} at epoch {epoch}: {len(found.layers)} layers, {heads} heads, "
             f"{found.prefix} prefix token(s), a {found.grid[0]}x{found.grid[1]} patch grid",
             *[f"wrote {path}" for path in files]]
    report(args, result, lines)


TRANSFORMER_COMMANDS = {"attention": command_attention, "patches": command_patches}
