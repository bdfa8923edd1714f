"""Search and recommendation: candidate configurations, the Optuna optimizer over them, and
the frozen `Recommendation` with its reasons. No torch."""
