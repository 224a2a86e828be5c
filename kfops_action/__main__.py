"""`python -m kfops_action`: the GitHub Action (same as the `kfops-action` console script)."""

import sys

from .action_main import main

sys.exit(main())
