"""Can each kappa parameterisation fit the likelihood's optimum? A controlled test.

Fixed random features stand in for the encoder's output; each input i has a known mean cosine
m_i (a function of one feature) that rises from 0 as training would raise it, and each step's
cosines are m_i plus noise. The head is trained with the VI loss ("relative" form: the kappa
term is the NLL on sg(c)) by SGD as in pre-training (lr 0.05, momentum 0.9, weight decay
5e-4, batch 256, d = 2048). The best kappa for input i is the one whose expected log(1 + c)
equals E[log(1 + c_i)] (docs/method.md section 2.2); we report how close the head gets (the
median of kappa / best) and how well it ranks the inputs (Spearman's rho).

    python benchmarks/method/kappa_head_fit.py      (seconds on a CPU; writes kappa_head_fit.md)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from visim.evaluation.ranking_metrics import spearman
from visim.models.kappa_head import KAPPA_PARAMS, KappaHead, kappa_from_moment
from visim.models.losses import vi_sample_losses
from visim.train.environment import environment_report

DIM, BATCH, INPUTS, FEATURES, STEPS, RAMP_STEPS, NOISE = 2048, 256, 4096, 64, 600, 300, 0.05
REPORT_AT = (50, 150, 300, 600)


def best_kappa(mean_cosine: torch.Tensor) -> torch.Tensor:
    """The likelihood's optimum for cosines m + noise: kappa with E[log(1+c)] = the mean."""
    g = torch.Generator().manual_seed(1)
    samples = (mean_cosine + NOISE * torch.randn(256, len(mean_cosine), generator=g)).clamp(
        -0.99, 0.999
    )
    return kappa_from_moment(torch.log1p(samples).mean(0).double(), DIM)


def fit(param: str) -> list[dict]:
    torch.manual_seed(0)
    features = torch.relu(torch.randn(INPUTS, FEATURES))
    final_cosine = torch.sigmoid(features[:, 0] - 0.5) * 0.98  # in (0, 0.98)
    head = KappaHead(FEATURES, param=param, sphere_dim=DIM)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    rows = []
    for step in range(1, STEPS + 1):
        ramp = min(1.0, step / RAMP_STEPS)
        picked = torch.randint(0, INPUTS, (BATCH,))
        cosine = (final_cosine[picked] * ramp + NOISE * torch.randn(BATCH)).clamp(-0.99, 0.999)
        loss = vi_sample_losses(cosine, head(features[picked]), DIM, "relative").mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step in REPORT_AT:
            with torch.no_grad():
                kappa = head(features).double()
            best = best_kappa(final_cosine * ramp)
            rows.append(
                {
                    "step": step,
                    "median_ratio": float((kappa / best).median()),
                    "spearman": spearman(kappa.numpy(), best.numpy()),
                    "best_median": float(best.median()),
                }
            )
    return rows


def main() -> None:
    results = {param: fit(param) for param in KAPPA_PARAMS}
    env = environment_report()
    lines = [
        "# Fitting kappa to a known optimum: softplus against moment",
        "",
        __doc__.split("\n\n")[1].replace("\n", " "),
        "",
        "| parameterisation | step | median kappa / best | Spearman rho with the best | "
        "median best kappa |",
        "|---|---:|---:|---:|---:|",
    ]
    for param, rows in results.items():
        for r in rows:
            lines.append(
                f"| {param} | {r['step']} | {r['median_ratio']:.3f} | {r['spearman']:.3f} | "
                f"{r['best_median']:.0f} |"
            )
    lines += [
        "",
        f"Machine: {env['cpu_model']}; torch {env['packages']['torch']}, visim commit "
        f"{env['git_commit']}. Repeat: `python benchmarks/method/kappa_head_fit.py`.",
        "",
    ]
    text = "\n".join(lines)
    (Path(__file__).parent / "kappa_head_fit.md").write_text(text)
    print(text)


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
