"""Costing: budgets with units (FLOPs, GPU-hours, dollars), accelerators and their
throughputs, and the analytic cost of each strategy per bucket (paper Eq. 1). No torch."""
