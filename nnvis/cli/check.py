"""`nnvis check --workspace DIR [--repair]`: report a workspace's damaged parts, one line each,
and with --repair recompute them (see nnvis.workspace.integrity)."""

from __future__ import annotations

import argparse


def add_check_command(commands) -> None:
    check = commands.add_parser("check", help="check a workspace's manifest, snapshots and store; --repair fixes")
    check.add_argument("--workspace", required=True)
    check.add_argument("--repair", action="store_true", help="remove what is damaged and compute it again")


def command_check(args: argparse.Namespace) -> None:
    """Print each problem, then that all is intact or was repaired; problems left unrepaired are
    an NNVisError (exit status 2)."""
    from nnvis.errors import NNVisError
    from nnvis.workspace.integrity import check

    problems = check(args.workspace, repair=args.repair)
    for problem in problems:
        print(problem)
    if not problems:
        print(f"{args.workspace}: intact")
    elif args.repair:
        print(f"{args.workspace}: repaired {len(problems)} problem(s)")
    else:
        raise NNVisError(f"{len(problems)} problem(s) in {args.workspace}; repair with "
                         f"`nnvis check --workspace {args.workspace} --repair`")
