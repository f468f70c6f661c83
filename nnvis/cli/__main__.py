"""`python -m nnvis.cli`: the `nnvis` command."""

import sys

from nnvis.cli.commands import main

sys.exit(main())
