"""`python -m planner.cli ...` (also what `accelerate launch -m planner.cli` runs)."""

import sys

from planner.cli.main import main

sys.exit(main())
