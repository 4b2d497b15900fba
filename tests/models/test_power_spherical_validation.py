"""Input checks, dtypes under autocast, and the uniform distribution's API."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from visim.models import HypersphericalUniform, PowerSpherical, uniform_log_density


def unit_rows(batch: int, dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return F.normalize(torch.randn(batch, dim), dim=-1).to(dtype)


def test_column_concentration_is_rejected_with_its_name():
    with pytest.raises(ValueError, match=r"concentration must have the batch shape.*\(4, 1\)"):
        PowerSpherical(unit_rows(4, 8), torch.ones(4, 1))


def test_concentration_check_runs_even_without_value_validation():
    with pytest.raises(ValueError, match="concentration"):
        PowerSpherical(unit_rows(4, 8), torch.ones(4, 1), validate_args=False)


def test_non_unit_loc_is_rejected():
    with pytest.raises(ValueError, match="parameter loc"):
        PowerSpherical(2 * unit_rows(3, 8), torch.ones(3))


def test_negative_or_nan_concentration_is_rejected():
    with pytest.raises(ValueError, match="parameter concentration"):
        PowerSpherical(unit_rows(2, 8), torch.tensor([1.0, -0.5]))
    with pytest.raises(ValueError, match="parameter concentration"):
        PowerSpherical(unit_rows(2, 8), torch.tensor([1.0, float("nan")]))


def test_loc_must_have_at_least_two_dimensions():
    with pytest.raises(ValueError, match="d >= 2"):
        PowerSpherical(torch.ones(3, 1), torch.ones(3))


def test_log_prob_rejects_points_off_the_sphere():
    dist = PowerSpherical(unit_rows(2, 8), torch.ones(2))
    with pytest.raises(ValueError, match="support"):
        dist.log_prob(3 * unit_rows(2, 8))


def test_scalar_concentration_broadcasts_to_the_batch():
    dist = PowerSpherical(unit_rows(5, 8), 2.0)
    assert dist.concentration.shape == (5,)
    assert dist.batch_shape == (5,) and dist.event_shape == (8,)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_inputs_are_computed_in_float32(dtype):
    torch.manual_seed(0)
    loc, x = unit_rows(4, 2048, dtype), unit_rows(4, 2048, dtype)
    kappa = torch.tensor([0.0, 10.0, 1e3, 1e4], dtype=dtype)
    dist = PowerSpherical(loc, kappa)
    assert dist.loc.dtype == torch.float32 and dist.concentration.dtype == torch.float32
    log_prob = dist.log_prob(x)
    assert log_prob.dtype == torch.float32
    # Values near 4900 in bf16 would be off by up to 16; in float32 only the inputs are rounded.
    expected = PowerSpherical(loc.float(), kappa.float()).log_prob(x.float())
    torch.testing.assert_close(log_prob, expected)


def test_float64_stays_float64():
    dist = PowerSpherical(unit_rows(2, 8, torch.float64), torch.ones(2, dtype=torch.float64))
    x = unit_rows(2, 8, torch.float64)
    assert dist.log_prob(x).dtype == torch.float64
    assert dist.entropy().dtype == torch.float64
    assert dist.rsample().dtype == torch.float64


def test_autocast_does_not_change_results():
    torch.manual_seed(1)
    loc, x = unit_rows(3, 512), unit_rows(3, 512)
    dist = PowerSpherical(loc, torch.tensor([1.0, 100.0, 5e3]))
    expected = dist.log_prob(x), dist.entropy()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = dist.log_prob(x.bfloat16()), dist.entropy()
    assert all(t.dtype == torch.float32 for t in got)
    torch.testing.assert_close(got[1], expected[1])
    # x went through bf16: compare with the same rounded input outside autocast.
    torch.testing.assert_close(got[0], dist.log_prob(x.bfloat16().float()))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_works_on_cuda_under_autocast():
    loc = unit_rows(3, 2048).cuda()
    kappa = torch.tensor([1.0, 100.0, 1e4], device="cuda")
    dist = PowerSpherical(loc, kappa)
    expected = PowerSpherical(loc.cpu(), kappa.cpu()).log_prob(loc.cpu())
    with torch.autocast("cuda", dtype=torch.float16):
        log_prob = dist.log_prob(loc)
    assert log_prob.dtype == torch.float32
    torch.testing.assert_close(log_prob.cpu(), expected, atol=5e-3, rtol=0)
    assert dist.rsample((2,)).device.type == "cuda"
    assert kl_divergence(dist, HypersphericalUniform(2048, device="cuda")).device.type == "cuda"


def test_uniform_density_is_the_inverse_sphere_area():
    uniform = HypersphericalUniform(2048)
    x = unit_rows(3, 2048)
    torch.testing.assert_close(uniform.log_prob(x), torch.full((3,), 4898.383863))
    assert uniform.entropy().item() == pytest.approx(-4898.383863, abs=1e-3)
    assert uniform_log_density(2048) == pytest.approx(4898.383863, abs=1e-6)
    assert uniform_log_density(3) == pytest.approx(-torch.log(torch.tensor(4 * torch.pi)).item())


def test_kl_requires_matching_dimensions():
    dist = PowerSpherical(unit_rows(2, 8), torch.ones(2))
    with pytest.raises(ValueError, match="same sphere"):
        kl_divergence(dist, HypersphericalUniform(9))


def test_uniform_rejects_dimension_below_two():
    with pytest.raises(ValueError, match="dim must be at least 2"):
        HypersphericalUniform(1)
