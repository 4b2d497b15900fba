"""log_prob, entropy, KL to uniform and mean against reference values and the closed forms."""

from __future__ import annotations

import math
import random

import pytest
import torch
import torch.nn.functional as F
from torch.distributions import kl_divergence

from visim.models import HypersphericalUniform, PowerSpherical

DTYPES = [torch.float32, torch.float64]
# Absolute agreement with the 6-decimal tables; float32 is ~1e-3 off at values near 5000.
TABLE_ATOL = {torch.float32: 5e-3, torch.float64: 2e-6}
# Error relative to the sum of |terms| of the closed form (the size of its cancellations).
CLOSED_FORM_RTOL = {torch.float32: 1e-6, torch.float64: 1e-12}

LOG_PROB_TABLE = [  # d, kappa, c = mu.x, log_prob of the closed form (docs/method.md section 3)
    (3, 1, 1.0, -1.837877),
    (3, 10, 0.5, -3.009950),
    (3, 100, 0.9, -3.045233),
    (128, 10, 0.0, 126.723525),
    (128, 1000, 0.5, -4.020151),
    (2048, 0, 0.3, 4898.383863),
    (2048, 0, -0.7, 4898.383863),
    (2048, 100, 0.5, 4936.623467),
    (2048, 1000, 0.9, 5373.203296),
]
MOMENT_TABLE = [  # d, kappa, entropy, KL to uniform, E[mu.x]
    (3, 1, 2.337877, 0.193147, 0.333333),
    (3, 10, 1.042220, 1.488804, 0.833333),
    (128, 100, -140.851080, 13.797624, 0.440529),
    (2048, 1000, -5015.084764, 116.700901, 0.328192),
]


def python_digamma(x: float) -> float:
    """psi(x) by recurrence up to x >= 10, then the asymptotic series (error < 1e-13)."""
    result = 0.0
    while x < 10:
        result -= 1 / x
        x += 1
    inv2 = 1 / (x * x)
    tail = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    return result + math.log(x) - 0.5 / x - tail


def reference_log_normalizer_terms(d: int, kappa: float) -> list[float]:
    beta = (d - 1) / 2
    alpha = beta + kappa
    return [
        (alpha + beta) * math.log(2),
        beta * math.log(math.pi),
        math.lgamma(alpha),
        -math.lgamma(alpha + beta),
    ]


def reference_log_prob(d: int, kappa: float, c: float) -> tuple[float, float]:
    """(value, scale): log_prob in float64 Python and the sum of |terms| it is built from."""
    terms = [-t for t in reference_log_normalizer_terms(d, kappa)] + [kappa * math.log1p(c)]
    return sum(terms), sum(abs(t) for t in terms)


def reference_entropy(d: int, kappa: float) -> tuple[float, float]:
    beta = (d - 1) / 2
    alpha = beta + kappa
    digamma_terms = [math.log(2), python_digamma(alpha), -python_digamma(alpha + beta)]
    log_norm_terms = reference_log_normalizer_terms(d, kappa)
    value = sum(log_norm_terms) - kappa * sum(digamma_terms)
    scale = sum(abs(t) for t in log_norm_terms) + kappa * sum(abs(t) for t in digamma_terms)
    return value, scale


def reference_log_area(d: int) -> float:
    return math.log(2) + d / 2 * math.log(math.pi) - math.lgamma(d / 2)


def unit_pair(d: int, c: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """A random unit vector mu and a unit x with mu.x = c, both float64 [d]."""
    mu = F.normalize(torch.randn(d, generator=generator, dtype=torch.float64), dim=0)
    other = torch.randn(d, generator=generator, dtype=torch.float64)
    if d == 2:
        other = torch.stack([-mu[1], mu[0]])
    orthogonal = F.normalize(other - (other @ mu) * mu, dim=0)
    return mu, c * mu + math.sqrt(1 - c * c) * orthogonal


def e1_pair(d: int, c: float, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    mu = torch.zeros(d, dtype=torch.float64)
    mu[0] = 1
    x = torch.zeros(d, dtype=torch.float64)
    x[0], x[1] = c, math.sqrt(1 - c * c)
    return mu.to(dtype), x.to(dtype)


def test_python_digamma_matches_known_values():
    euler_gamma = 0.5772156649015329
    assert python_digamma(1.0) == pytest.approx(-euler_gamma, abs=1e-12)
    assert python_digamma(0.5) == pytest.approx(-euler_gamma - 2 * math.log(2), abs=1e-12)
    assert python_digamma(1e5 + 1) - python_digamma(1e5) == pytest.approx(1e-5, rel=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d", "kappa", "c", "expected"), LOG_PROB_TABLE)
def test_log_prob_matches_reference_table(d, kappa, c, expected, dtype):
    mu, x = e1_pair(d, c, dtype)
    log_prob = PowerSpherical(mu, torch.tensor(float(kappa), dtype=dtype)).log_prob(x)
    assert log_prob.dtype == dtype
    assert log_prob.item() == pytest.approx(expected, abs=TABLE_ATOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(("d", "kappa", "entropy", "kl", "mean_cosine"), MOMENT_TABLE)
def test_entropy_kl_and_mean_match_reference_table(d, kappa, entropy, kl, mean_cosine, dtype):
    mu, _ = e1_pair(d, 0.0, dtype)
    dist = PowerSpherical(mu, torch.tensor(float(kappa), dtype=dtype))
    assert dist.entropy().item() == pytest.approx(entropy, abs=TABLE_ATOL[dtype])
    assert kl_divergence(dist, HypersphericalUniform(d)).item() == pytest.approx(
        kl, abs=TABLE_ATOL[dtype]
    )
    assert (dist.mean @ mu).item() == pytest.approx(mean_cosine, abs=1e-6)


def random_points(count: int, seed: int) -> list[tuple[int, float, float]]:
    """(d, kappa, c) with d in [2, 4096], kappa 0 or log-uniform in [1e-3, 1e5], c in [-0.9, 1]."""
    rng = random.Random(seed)
    points = []
    for i in range(count):
        d = rng.choice([2, 3, 4096]) if i < 6 else rng.randint(2, 4096)
        kappa = 0.0 if i % 7 == 0 else 10 ** rng.uniform(-3, 5)
        points.append((d, kappa, rng.uniform(-0.9, 1.0)))
    return points


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_prob_matches_closed_form_at_random_points(dtype):
    generator = torch.Generator().manual_seed(1)
    for d, kappa, c in random_points(150, seed=2):
        mu, x = (v.to(dtype) for v in unit_pair(d, c, generator))
        # The cosine the implementation actually sees, after rounding to dtype.
        exact_cosine = float(mu.double() @ x.double())
        expected, scale = reference_log_prob(d, kappa, exact_cosine)
        got = PowerSpherical(mu, torch.tensor(kappa, dtype=dtype)).log_prob(x).item()
        assert abs(got - expected) <= CLOSED_FORM_RTOL[dtype] * scale, (d, kappa, c)


@pytest.mark.parametrize("dtype", DTYPES)
def test_entropy_kl_and_mean_match_closed_form_at_random_points(dtype):
    points = random_points(150, seed=3)
    for d, kappa, _ in points:
        mu, _ = e1_pair(d, 0.0, dtype)
        dist = PowerSpherical(mu, torch.tensor(kappa, dtype=dtype))
        entropy, scale = reference_entropy(d, kappa)
        assert abs(dist.entropy().item() - entropy) <= CLOSED_FORM_RTOL[dtype] * scale
        kl = kl_divergence(dist, HypersphericalUniform(d)).item()
        kl_scale = scale + abs(reference_log_area(d))
        assert abs(kl - (reference_log_area(d) - entropy)) <= CLOSED_FORM_RTOL[dtype] * kl_scale
        assert dist.mean[0].item() == pytest.approx(kappa / (d - 1 + kappa), rel=1e-6, abs=1e-12)


def test_batched_log_prob_scores_each_row_against_its_own_parameters():
    generator = torch.Generator().manual_seed(4)
    d, cosines, kappas = 64, [0.9, -0.2, 0.0], [5.0, 300.0, 0.0]
    pairs = [unit_pair(d, c, generator) for c in cosines]
    mu = torch.stack([m for m, _ in pairs])  # [3, d]
    x = torch.stack([v for _, v in pairs])
    log_prob = PowerSpherical(mu, torch.tensor(kappas, dtype=torch.float64)).log_prob(x)
    assert log_prob.shape == (3,)
    for row, (kappa, c) in enumerate(zip(kappas, cosines, strict=True)):
        assert log_prob[row].item() == pytest.approx(reference_log_prob(d, kappa, c)[0], abs=1e-9)


def test_kappa_zero_is_the_uniform_distribution():
    d = 2048
    mu, x = e1_pair(d, -0.3, torch.float64)
    dist = PowerSpherical(mu, torch.tensor(0.0, dtype=torch.float64))
    uniform = HypersphericalUniform(d, dtype=torch.float64)
    assert dist.log_prob(x).item() == pytest.approx(uniform.log_prob(x).item(), abs=1e-9)
    assert dist.entropy().item() == pytest.approx(uniform.entropy().item(), abs=1e-9)
    assert kl_divergence(dist, uniform).item() == pytest.approx(0.0, abs=1e-9)
