"""Experiments: the runner (one run = pretrain, specialize, evaluate), the results store
(Optuna storage) and the demo."""
