"""kappa's support factor: the bank of training views, and kappa falling back to the prior."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from visim.models import ModelConfig, build_model
from visim.models.feature_support import FeatureSupport
from visim.models.kappa_head import moment_of_kappa, supported_kappa

DIM = 16


def unit_rows(n: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(n, DIM, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_an_empty_bank_leaves_every_image_supported():
    support = FeatureSupport(DIM, size=8, neighbours=2)
    torch.testing.assert_close(support(unit_rows(3, 0)), torch.ones(3))


def test_support_is_one_near_the_training_views_and_falls_away_from_them():
    support = FeatureSupport(DIM, size=64, neighbours=2, sharpness=10.0)
    cluster = F.normalize(torch.ones(1, DIM) + 0.1 * unit_rows(64, 1), dim=1)
    support.observe(cluster[:32], cluster[32:])
    near = F.normalize(torch.ones(1, DIM) + 0.1 * unit_rows(1, 2), dim=1)
    far = -torch.ones(1, DIM)  # opposite the cluster: cosine -1 to every view
    s_near, s_far = support(near), support(far)
    assert s_near.item() > 0.5
    assert s_far.item() < 1e-6
    assert (support(torch.cat([near, far])) <= 1).all()


def test_the_bank_is_a_fifo_of_the_latest_views():
    support = FeatureSupport(DIM, size=5, neighbours=1)
    rows = unit_rows(7, 3)
    support.observe(rows[:3])
    support.observe(rows[3:7])  # wraps around: slots 3, 4, then 0, 1
    assert int(support.inserted) == 7
    torch.testing.assert_close(support.bank, rows[[5, 6, 2, 3, 4]])
    big = FeatureSupport(DIM, size=3, neighbours=1)
    big.observe(rows)  # one batch larger than the bank keeps its last rows
    assert sorted(big.bank.sum(1).tolist()) == sorted(rows[-3:].sum(1).tolist())


def test_a_view_is_not_compared_with_its_sibling():
    # Identical sibling views: were the first inserted before the second was compared, the
    # reference would be a perfect 1.
    support = FeatureSupport(DIM, size=64, neighbours=1)
    support.observe(unit_rows(8, 4))
    view = unit_rows(8, 5)
    support.observe(view, view.clone())
    assert support.reference.item() < 0.99


def test_a_loaded_support_reads_as_the_saved_one():
    support = FeatureSupport(DIM, size=16, neighbours=2)
    support.observe(unit_rows(12, 6))
    support.observe(unit_rows(12, 7))
    loaded = FeatureSupport(DIM, size=16, neighbours=2)
    loaded.observe(unit_rows(3, 9))  # a used module: its own state must give way
    loaded.load_state_dict(support.state_dict())
    queries = unit_rows(5, 8)
    torch.testing.assert_close(loaded(queries), support(queries))


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="neighbours"):
        FeatureSupport(DIM, size=4, neighbours=5)
    with pytest.raises(ValueError, match="sharpness"):
        FeatureSupport(DIM, sharpness=0.0)


def test_supported_kappa_is_kappa_at_full_support_and_falls_to_the_prior_without():
    kappa = torch.tensor([5.0, 300.0, 2e4])
    torch.testing.assert_close(supported_kappa(kappa, torch.ones(3), 2048, 0.01), kappa)
    half = supported_kappa(kappa, torch.full((3,), 0.5), 2048, 0.01)
    assert (half < kappa).all()
    none = supported_kappa(kappa, torch.zeros(3), 2048, 0.01)
    # Moment 0: the concentration of a distribution no better than the uniform's alignment.
    assert (none < 2).all() and (none >= 0.01).all()
    torch.testing.assert_close(
        moment_of_kappa(half.double(), 2048), 0.5 * moment_of_kappa(kappa.double(), 2048)
    )


def test_the_model_fills_the_bank_in_training_and_applies_it_outside():
    config = ModelConfig(
        method="vi-simsiam", cifar_stem=True, proj_dim=32, pred_hidden_dim=8, kappa_support="bank"
    )
    model = build_model(config)
    with torch.no_grad():  # a head that predicts a confident fit everywhere
        model.kappa_head.linear.bias.fill_(0.5)
    images = torch.rand(16, 3, 16, 16)
    model.train()
    out = model(images, images.flip(-1))
    assert int(model.kappa_support.inserted) == 32
    # Training views get the head's kappa: their support is 1 by definition.
    torch.testing.assert_close(out.kappa1, model.kappa_head(torch.zeros(16, 8)))
    model.eval()
    with torch.no_grad():
        features = model.encode(images)
        head_kappa = model.kappa_head(torch.zeros(16, 8))  # the bias alone: the same everywhere
        support = model.kappa_support(features)
        _, kappa = model.posterior(images)
    assert int(model.kappa_support.inserted) == 32  # evaluation inserts nothing
    assert (support < 1).any()  # eval-mode features lie off the training-mode bank
    torch.testing.assert_close(kappa, supported_kappa(head_kappa, support, 32, 0.01))
    assert (kappa <= head_kappa * (1 + 1e-5)).all()


def test_vi_simsiam_has_the_bank_by_default_and_simsiam_never():
    assert isinstance(build_model(ModelConfig(method="vi-simsiam")).kappa_support, FeatureSupport)
    none = ModelConfig(method="vi-simsiam", kappa_support="none")
    assert build_model(none).kappa_support is None
    assert build_model(ModelConfig(method="simsiam", kappa_support="bank")).kappa_support is None
