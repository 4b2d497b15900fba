"""Top-k correctness of class scores, shared by the kNN classifier and the linear probe."""

from __future__ import annotations

import torch


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Whether each label is among the k highest scores (bool [N]).

    scores: [N, C]; labels: int64 [N]. k larger than C counts every answer as correct.
    """
    k = min(k, scores.shape[1])
    top = scores.topk(k, dim=1).indices  # [N, k]
    return (top == labels.to(top.device).unsqueeze(1)).any(dim=1)


def topk_accuracy(scores: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Fraction of rows whose label is among the k highest scores."""
    # float64: a fraction of n images prints as such (0.4, not 0.4000000059604645).
    return topk_correct(scores, labels, k).double().mean().item()
