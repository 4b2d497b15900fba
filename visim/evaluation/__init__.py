"""`visim eval`: frozen features, kNN, linear probe, kappa analysis and plots."""
