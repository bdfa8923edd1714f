"""The machinery the strategies share: model sizes (scales), FLOP counting, GPT-2 models,
the training loop, evaluation, the artifact workspace, clustering and embeddings, the
projected network, generation and teachers. The strategies themselves sit one level up."""
