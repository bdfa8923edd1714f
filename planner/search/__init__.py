"""Search and recommendation: candidate configurations, the Optuna optimizer over them, and
the frozen `Recommendation` with its reasons. No torch.

The function `recommend` is `planner.recommend` (or `planner.search.recommend.recommend`):
re-exported here it would hide its own module, `planner.search.recommend`.
"""

from planner.search.candidates import Candidate, Knob, PlanContext
from planner.search.optimizer import (
    DEFAULT_TRIALS,
    SearchResult,
    eligible_strategies,
    pareto_front,
    search,
)
from planner.search.recommend import Recommendation, RunnerUp

__all__ = ["DEFAULT_TRIALS", "Candidate", "Knob", "PlanContext", "Recommendation", "RunnerUp",
           "SearchResult", "eligible_strategies", "pareto_front", "search"]
