"""How well the training views cover an image's features: kappa's support factor (our choice;
docs/method.md section 2.4).

A kappa head is a regression fitted on training views; on an image unlike every training
image it extrapolates, and its kappa says nothing. The support factor s(x) in (0, 1] says how
far the fit can be trusted there: 1 where x's backbone features lie as near the recent
training views as a typical training view does, exp(SHARPNESS (cos_k(x) - reference)) below
that, with cos_k the mean cosine to the k nearest views of a FIFO bank. The model reads the
supported concentration as the kappa whose expected log(1 + c) is s times the head's: far
from the data it falls to the uniform prior's, as a posterior does where no data were seen.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visim.models.power_spherical import autocast_disabled

# Chosen post hoc on the validation screen (benchmarks/method/kappa_support_analysis.md).
BANK_SIZE = 8192
NEIGHBOURS = 10
SHARPNESS = 40.0
# The reference cosine follows the training views' median slowly: it changes as the encoder
# trains, and one batch's median is noisy.
REFERENCE_MOMENTUM = 0.99


class FeatureSupport(nn.Module):
    """features [B, dim] -> s [B] in (0, 1]; `observe` fills the bank during training.

    The bank, its fill count and the reference cosine are buffers: they are saved with the
    weights, so a loaded model reads kappa with the support it was trained with. Under DDP
    every process inserts the same number of rows per step, and the buffers broadcast from
    rank 0 at each forward keep one bank for all. Every decision on the fill count is a tensor
    operation, never a Python branch: no step waits for the accelerator to report the count,
    and torch.compile traces the forward as one graph.
    """

    bank: torch.Tensor  # [size, dim] unit backbone features of recent training views
    inserted: torch.Tensor  # int64 scalar: views ever inserted (the FIFO's cursor)
    reference: torch.Tensor  # float32 scalar: a typical training view's cos_k

    def __init__(
        self,
        dim: int,
        size: int = BANK_SIZE,
        neighbours: int = NEIGHBOURS,
        sharpness: float = SHARPNESS,
    ) -> None:
        super().__init__()
        if not 1 <= neighbours <= size:
            raise ValueError(f"neighbours must lie in [1, size = {size}], got {neighbours}")
        if sharpness <= 0:
            raise ValueError(f"sharpness must be positive, got {sharpness}")
        self.size, self.neighbours, self.sharpness = size, neighbours, sharpness
        self.register_buffer("bank", torch.zeros(size, dim))
        self.register_buffer("inserted", torch.zeros((), dtype=torch.int64))
        self.register_buffer("reference", torch.ones(()))

    def _comparable(self) -> torch.Tensor:
        """bool scalar: the bank holds enough rows to compare with."""
        return self.inserted >= self.neighbours

    def _neighbour_cosine(self, unit: torch.Tensor) -> torch.Tensor:
        """Mean cosine of each row of unit [B, dim] to its k nearest filled bank rows: [B]
        (meaningless while the bank holds fewer than k rows)."""
        filled = torch.arange(self.size, device=unit.device) < self.inserted
        # Below any cosine: rows not filled yet are never among the nearest.
        cosine = (unit @ self.bank.T).masked_fill(~filled, -2.0)
        return cosine.topk(self.neighbours, dim=1).values.mean(dim=1)

    @torch.no_grad()
    def forward(self, features: torch.Tensor) -> torch.Tensor:
        with autocast_disabled(features.device):
            cosine = self._neighbour_cosine(F.normalize(features.float(), dim=-1))
            support = torch.exp(self.sharpness * (cosine - self.reference).clamp(max=0.0))
            # Nothing to compare with yet: every image is supported.
            return torch.where(self._comparable(), support, torch.ones_like(support))

    @torch.no_grad()
    def observe(self, *views: torch.Tensor) -> None:
        """One training step's views (each [B, dim]): update the reference from how near the
        bank they lie, then insert them (each compared before any is inserted, so that no view
        meets its sibling)."""
        with autocast_disabled(views[0].device):
            units = [F.normalize(v.detach().float(), dim=-1) for v in views]
            median = torch.cat([self._neighbour_cosine(u) for u in units]).median()
            # While the bank fills, the reference follows it at once; then slowly.
            followed = torch.where(
                self.inserted < self.size,
                median,
                torch.lerp(self.reference, median, 1 - REFERENCE_MOMENTUM),
            )
            self.reference.copy_(torch.where(self._comparable(), followed, self.reference))
            for unit in units:
                self._insert(unit)

    def _insert(self, unit: torch.Tensor) -> None:
        unit = unit[-self.size :]  # a batch larger than the bank keeps its last rows
        slots = (self.inserted + torch.arange(len(unit), device=unit.device)) % self.size
        self.bank.index_copy_(0, slots, unit)
        self.inserted.add_(len(unit))
