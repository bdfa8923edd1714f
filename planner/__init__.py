"""specplan's planner: budgets, costs, reference results, performance model, optimizer,
recommendation, experiment runner, results store, reports and the CLI.

Importing `planner` never imports torch.
"""
