"""The budget flags, defined once for every subcommand that plans: `specplan recommend`
(the four budgets required) and `specplan report` (all optional: the default scenario,
`planner.costing.scenario.DEFAULT_SCENARIO`, fills what is left out).

Values are parsed by `planner.costing.budget.Budget.from_strings`; each invalid value is one
line naming its flag, exit status 2.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.costing.budget import Budget

__all__ = ["UNITS_HELP", "add_budget_arguments", "allow_negative_values", "budget_from_args"]

UNITS_HELP = ("FLOPs (4e18), GPU-hours on --accelerator (400gpuh, '400 GPUh') or dollars "
              "at --price-per-hour ($1200)")

def allow_negative_values(parser: argparse.ArgumentParser) -> None:
    """Let ``--pretraining-budget -400gpuh`` reach the budget parser (one clear line naming
    the flag) instead of argparse's "expected one argument": a word starting with ``-`` and
    a digit, ``.``, ``inf`` or ``nan`` is a value here, never an option."""
    parser._negative_number_matcher = re.compile(r"^-(\d|\.\d|inf|nan)", re.IGNORECASE)


def add_budget_arguments(parser: argparse.ArgumentParser, *,
                         defaults: Mapping[str, str] | None = None) -> None:
    """Add the budget flags to `parser`.

    Args:
        parser: a subcommand's parser.
        defaults: `Budget.from_strings` keywords that fill flags left out (the report's
            default scenario); None: the four budgets are required (``recommend``) and
            ``--domains`` defaults to 1.
    """
    allow_negative_values(parser)
    required = defaults is None

    def default(key: str, fallback: str | None = None) -> str | None:
        return fallback if defaults is None else defaults.get(key, fallback)

    def shown(key: str) -> str:
        value = default(key)
        return "" if required or value is None else f" (default {value})"

    g = parser.add_argument_group("budgets (the paper's four variables)" if required else
                                  "budget scenario (defaults: the paper's setting)")
    g.add_argument("--pretraining-budget", required=required, default=None, metavar="AMOUNT",
                   help="compute spent once, shared by every domain: "
                        f"{UNITS_HELP}{shown('pretraining')}")
    g.add_argument("--specialization-budget", required=required, default=None,
                   metavar="AMOUNT", help="compute per domain, after its data arrives: "
                                          f"{UNITS_HELP}{shown('specialization')}")
    g.add_argument("--inference-budget", required=required, default=None, metavar="CAP",
                   help="cap on the served model: parameters (126M, 1.2B, 771000000) or "
                        f"forward FLOPs per token (2.6e8flops/token){shown('inference')}")
    g.add_argument("--domain-tokens", required=required, default=None, metavar="TOKENS",
                   help="in-domain training tokens per domain (1M, 8M, 64e6)"
                        f"{shown('domain_tokens')}")
    g.add_argument("--domains", "--n-domains", dest="n_domains", default=None, metavar="N",
                   help="number of domains N; total = pretraining + N x specialization "
                        f"(paper Eq. 1){shown('domains') or ' (default 1)'}")
    g.add_argument("--total-budget", default=None, metavar="AMOUNT",
                   help="optional cap on pretraining + N x specialization, same units")
    h = parser.add_argument_group("hardware and prices")
    h.add_argument("--accelerator", default=None, metavar="NAME",
                   help="what a GPU-hour is: A100 (the paper's), H100, or cpu (this "
                        f"machine, measured once){shown('accelerator') or ' (default A100)'}")
    h.add_argument("--price-per-hour", default=None, metavar="USD",
                   help="dollars per device-hour for $ budgets and costs (default: A100 "
                        "$2.00, H100 $3.00, cpu $0.10)")


def budget_from_args(args: argparse.Namespace, *,
                     defaults: Mapping[str, str] | None = None) -> Budget:
    """The `Budget` of the flags `add_budget_arguments` added (same `defaults`).

    Raises:
        planner.exceptions.BudgetError: a value is invalid (the message names its flag).
    """
    from planner.costing.budget import Budget
    from planner.exceptions import BudgetError

    fallback = {"domains": "1", "accelerator": "A100", **(defaults or {})}

    def pick(keyword: str, attribute: str) -> str | None:
        value = getattr(args, attribute)
        return fallback.get(keyword) if value is None else str(value)

    def need(keyword: str, attribute: str) -> str:
        value = pick(keyword, attribute)
        if value is None:  # argparse requires these when there are no defaults
            raise BudgetError(f"--{attribute.replace('_', '-')}: a value is required")
        return value

    return Budget.from_strings(
        pretraining=need("pretraining", "pretraining_budget"),
        specialization=need("specialization", "specialization_budget"),
        inference=need("inference", "inference_budget"),
        domain_tokens=need("domain_tokens", "domain_tokens"),
        domains=need("domains", "n_domains"), total=pick("total", "total_budget"),
        accelerator=need("accelerator", "accelerator"),
        price_per_hour=pick("price_per_hour", "price_per_hour"))
