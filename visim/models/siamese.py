"""One model for SimSiam and VI-SimSiam: backbone -> projector -> predictor (+ kappa head)."""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from visim.models.backbones import build_backbone
from visim.models.feature_support import FeatureSupport
from visim.models.heads import Predictor, Projector
from visim.models.kappa_head import KappaHead, supported_kappa
from visim.models.losses import simsiam_loss, vi_simsiam_loss
from visim.models.model_config import ModelConfig


class SiameseOutput(NamedTuple):
    """Both views through the network; kappa* are None for SimSiam. Shapes for batch B."""

    p1: torch.Tensor  # [B, proj_dim] predictor output
    p2: torch.Tensor
    z1: torch.Tensor  # [B, proj_dim] projector output
    z2: torch.Tensor
    kappa1: torch.Tensor | None  # [B] concentration of view 1's posterior
    kappa2: torch.Tensor | None
    features1: torch.Tensor  # [B, feature_dim] backbone output
    features2: torch.Tensor


class SiameseModel(nn.Module):
    """SimSiam (method "simsiam") or VI-SimSiam (method "vi-simsiam"), set by a ModelConfig."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = build_backbone(config.arch, config.cifar_stem, config.channels_last)
        self.projector = Projector(
            self.backbone.feature_dim, config.proj_dim, config.num_projector_layers
        )
        self.predictor = Predictor(config.proj_dim, config.pred_hidden_dim)
        self.kappa_head: KappaHead | None = None
        if config.method == "vi-simsiam":
            source_width = {
                "predictor-hidden": config.pred_hidden_dim,
                "projector": config.proj_dim,
                "backbone": self.backbone.feature_dim,
            }[config.kappa_source]
            self.kappa_head = KappaHead(
                source_width,
                config.kappa_floor,
                config.kappa_max,
                param=config.kappa_param,
                sphere_dim=config.proj_dim,
            )
        self.kappa_support: FeatureSupport | None = None
        if config.method == "vi-simsiam" and config.kappa_support == "bank":
            self.kappa_support = FeatureSupport(self.backbone.feature_dim)

    @property
    def feature_dim(self) -> int:
        return self.backbone.feature_dim

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features: images [B, 3, H, W] -> [B, feature_dim]."""
        if x.dim() != 4:
            raise ValueError(f"x must be a batch of images [B, 3, H, W], got {tuple(x.shape)}")
        if self.config.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self.backbone(x)

    def _embed(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """One view: (features [B, C], z [B, D], p [B, D], kappa [B] or None)."""
        features = self.encode(x)
        z = self.projector(features)
        p, hidden = self.predictor.forward_with_hidden(z)
        if self.kappa_head is None:
            return features, z, p, None
        source = {"predictor-hidden": hidden, "projector": z, "backbone": features}[
            self.config.kappa_source
        ]
        if self.config.kappa_detach:
            # kappa is fitted to the encoder's output without steering it: otherwise the
            # encoder is rewarded for encoding how predictable a view is (docs/method.md).
            source = source.detach()
        kappa = self.kappa_head(source)
        if self.kappa_support is not None and not self.training:
            # Training views make the bank, so in training their support is 1 by definition;
            # outside training kappa falls back towards the prior away from them.
            kappa = supported_kappa(
                kappa, self.kappa_support(features), self.config.proj_dim, self.config.kappa_floor
            )
        return features, z, p, kappa

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> SiameseOutput:
        # The views go through separately, as in SimSiam, so each BN normalises one view's batch.
        features1, z1, p1, kappa1 = self._embed(x1)
        features2, z2, p2, kappa2 = self._embed(x2)
        if self.kappa_support is not None and self.training:
            self.kappa_support.observe(features1, features2)
        return SiameseOutput(p1, p2, z1, z2, kappa1, kappa2, features1, features2)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(mu [B, proj_dim] unit-norm float32, kappa [B] or None for SimSiam) for one batch."""
        mu, kappa, _ = self.posterior_and_target(x)
        return mu, kappa

    def posterior_and_target(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """posterior() and t [B, proj_dim], the unit-norm target z/|z| this view sets for the
        other view's posterior in the loss: what eval's `fit` readout pairs views by."""
        _, z, p, kappa = self._embed(x)
        return F.normalize(p.float(), dim=-1), kappa, F.normalize(z.float(), dim=-1)

    def loss(self, output: SiameseOutput) -> torch.Tensor:
        """The method's symmetric loss (scalar, float32) for a forward() output."""
        if self.kappa_head is None:
            return simsiam_loss(output.p1, output.p2, output.z1, output.z2)
        assert output.kappa1 is not None and output.kappa2 is not None  # the kappa head's
        return vi_simsiam_loss(
            output.p1,
            output.p2,
            output.z1,
            output.z2,
            output.kappa1,
            output.kappa2,
            form=self.config.vi_loss,
        )

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """{"encoder": backbone + projector, "predictor": predictor + kappa head}.

        SimSiam trains the predictor at a fixed learning rate because it must keep up with the
        latest representations (Chen & He 2021, section 4.4). The kappa head is in the same
        position whatever it reads: its target, the kappa that fits the current alignment
        (about (d-1) c / (1-c)), moves as the encoder trains, so it goes with the predictor.
        """
        head_modules = [self.predictor] + ([self.kappa_head] if self.kappa_head else [])
        return {
            "encoder": [*self.backbone.parameters(), *self.projector.parameters()],
            "predictor": [p for module in head_modules for p in module.parameters()],
        }


def build_model(config: ModelConfig | None = None) -> SiameseModel:
    """The model described by `config` (the defaults when None), randomly initialised."""
    return SiameseModel(config if config is not None else ModelConfig())
