"""Bayesian mixture learners with log-loss: exact regret, the weight-of-the-KL-ball bound, SGLD ensembles."""
