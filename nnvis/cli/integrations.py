"""`nnvis export-html` (a view as one self-contained HTML page) and `nnvis export --tensorboard`
(TensorBoard projector files): the integrations wing on the command line."""

from __future__ import annotations

import argparse


def add_integration_commands(commands) -> None:
    html = commands.add_parser("export-html", help="write a view as one self-contained HTML page (no server needed)")
    html.add_argument("--workspace", required=True)
    html.add_argument("--layer", required=True, help="a captured layer (see `nnvis summary`), or 'input'")
    html.add_argument("--epoch", type=int, help="default: the last")
    html.add_argument("--method", help="tsne, umap or pca (default: the workspace's projection)")
    html.add_argument("--out", required=True, help="the .html file to write")
    export = commands.add_parser("export", help="write a layer's activations in another tool's format")
    export.add_argument("--tensorboard", required=True, metavar="DIR",
                        help="folder for TensorBoard projector files (open with `tensorboard --logdir DIR`)")
    export.add_argument("--workspace", required=True)
    export.add_argument("--layer", required=True)
    export.add_argument("--epoch", type=int, help="default: the last")


def command_export_html(args: argparse.Namespace) -> None:
    from nnvis.integrations.html_view import export_html

    out = export_html(args.workspace, args.layer, args.out, epoch=args.epoch, method=args.method)
    print(f"{out} ({out.stat().st_size / 1e6:.1f} MB)")


def command_export(args: argparse.Namespace) -> None:
    from nnvis.integrations.tensorboard import export_tensorboard

    out = export_tensorboard(args.workspace, args.layer, args.tensorboard, epoch=args.epoch)
    print(f"{out}: projector files written; open them with `tensorboard --logdir {out}`")


INTEGRATION_COMMANDS = {"export-html": command_export_html, "export": command_export}
