"""The performance model: predicted perplexity per strategy as a function of pretraining
compute, specialization compute and domain tokens, fitted from the paper's tables and the
user's runs, with an uncertainty band. No torch."""
