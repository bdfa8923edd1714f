"""The default budget scenario: the paper's setting, shared by `specplan demo`,
`specplan report` and the notebooks.

A 126M serving cap, 8M in-domain tokens per domain, seven domains sharing 400 A100
GPU-hours of pretraining, 2 GPU-hours each to specialize (Grangier et al., arXiv 2402.01093:
the 126M model is Table 6's small model; 400 GPUh sits inside Table 8's 100-650 GPUh range).

    >>> from planner.costing.scenario import default_budget
    >>> b = default_budget(domains="50")
    >>> str(b.pretraining), b.n_domains
    ('400 GPUh', 50)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from planner.costing.budget import Budget

__all__ = ["DEFAULT_SCENARIO", "default_budget"]

#: The default scenario as `Budget.from_strings` keywords (text, as a user would type it).
DEFAULT_SCENARIO: dict[str, str] = {
    "pretraining": "400gpuh",
    "specialization": "2gpuh",
    "inference": "126M",
    "domain_tokens": "8M",
    "domains": "7",
    "accelerator": "A100",
}


def default_budget(**overrides: str) -> Budget:
    """The default scenario as a `Budget`; any key of `DEFAULT_SCENARIO` may be overridden.

    Raises:
        planner.exceptions.BudgetError: an override is not a valid budget.
    """
    from planner.costing.budget import Budget

    return Budget.from_strings(**{**DEFAULT_SCENARIO, **overrides})
