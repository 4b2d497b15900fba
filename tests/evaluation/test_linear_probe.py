import torch

from visim.evaluation.classification import topk_accuracy
from visim.evaluation.linear_probe import fit_linear_probe


def separable_features(n: int, generator: torch.Generator):
    """Points labelled by a random linear map, keeping those with a clear margin."""
    true_weight = torch.randn(5, 20, generator=generator)
    x = torch.randn(n, 20, generator=generator)
    logits = x @ true_weight.T
    top2 = logits.topk(2, dim=1).values
    keep = top2[:, 0] - top2[:, 1] > 1.0
    return x[keep], logits[keep].argmax(dim=1)


def test_probe_fits_linearly_separable_features():
    x, y = separable_features(3000, torch.Generator().manual_seed(0))
    # Badly scaled, offset features: standardisation must undo this for L-BFGS to converge.
    x = x * torch.logspace(-3, 3, 20) + 50.0
    half = len(x) // 2
    probe = fit_linear_probe(x[:half], y[:half], 5, weight_decay=1e-5)
    assert topk_accuracy(probe.scores(x[:half]), y[:half], 1) == 1.0
    assert topk_accuracy(probe.scores(x[half:]), y[half:], 1) > 0.97


def test_constant_feature_columns_do_not_break_the_fit():
    x, y = separable_features(600, torch.Generator().manual_seed(1))
    x = torch.cat([x, torch.full((len(x), 3), 7.0)], dim=1)
    probe = fit_linear_probe(x, y, 5)
    assert torch.isfinite(probe.scores(x)).all()
    assert topk_accuracy(probe.scores(x), y, 1) > 0.97
