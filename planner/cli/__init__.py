"""The `specplan` command line (`planner.cli.main`); one module per subcommand in
`planner.cli.commands`. Only this room parses arguments; library code never imports it."""

from planner.cli.main import main

__all__ = ["main"]
