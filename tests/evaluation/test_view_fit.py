"""eval's `fit` readout pairs each augmented view's posterior with the other views' targets."""

from __future__ import annotations

import torch
from torch import nn

from visim.evaluation.features import view_kappas
from visim.models.kappa_head import maximum_likelihood_kappa

DIM = 16


class FixedDirections(nn.Module):
    """Maps each view to a given direction: posterior mu = target t = the view's first
    pixel values' unit vector, so the test knows every cosine."""

    def __init__(self) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(1))  # eval code asks for a parameter's device

    def posterior_and_target(self, x: torch.Tensor):
        direction = nn.functional.normalize(x.flatten(1)[:, :DIM], dim=-1)
        return direction, torch.full((len(x),), 7.0), direction


def views_pointing(directions: torch.Tensor) -> torch.Tensor:
    """[B, K, DIM] directions -> views [B, K, 1, 4, 4] whose first DIM values hold them."""
    return directions.reshape(*directions.shape[:2], 1, 4, 4)


def test_fit_uses_every_ordered_pair_of_distinct_views_and_never_a_view_with_itself():
    torch.manual_seed(0)
    directions = nn.functional.normalize(torch.randn(3, 4, DIM), dim=-1)
    batches = [(views_pointing(directions), torch.zeros(3), torch.arange(3))]
    read = view_kappas(FixedDirections(), batches)
    cosines = directions @ directions.transpose(1, 2)  # [3, 4, 4]
    off_diagonal = cosines[:, ~torch.eye(4, dtype=torch.bool)]  # [3, 12]
    expected = maximum_likelihood_kappa(off_diagonal, DIM).float()
    torch.testing.assert_close(read["fit"], expected)
    assert read["kappa"].shape == (3, 4) and read["indices"].tolist() == [0, 1, 2]


def test_views_that_agree_more_get_a_higher_fitted_kappa():
    torch.manual_seed(1)
    centre = nn.functional.normalize(torch.randn(1, 1, DIM), dim=-1)
    noise = torch.randn(1, 4, DIM)
    tight = nn.functional.normalize(centre + 0.1 * noise, dim=-1)
    loose = nn.functional.normalize(centre + 1.0 * noise, dim=-1)
    batches = [(views_pointing(torch.cat([tight, loose])), torch.zeros(2), torch.arange(2))]
    fitted = view_kappas(FixedDirections(), batches)["fit"]
    assert fitted[0] > fitted[1] > 0


def test_one_view_per_image_gives_no_fit():
    directions = nn.functional.normalize(torch.randn(2, 1, DIM), dim=-1)
    read = view_kappas(
        FixedDirections(), [(views_pointing(directions), torch.zeros(2), torch.arange(2))]
    )
    assert "fit" not in read and read["kappa"].shape == (2, 1)
