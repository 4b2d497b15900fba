"""Backbones, heads, the Power Spherical distribution, SimSiam / VI-SimSiam and their losses."""

from visim.models.backbones import BACKBONE_ARCHS, build_backbone
from visim.models.collapse_monitor import kappa_statistics, representation_std
from visim.models.hyperspherical_uniform import HypersphericalUniform
from visim.models.losses import simsiam_loss, uniform_log_density, vi_simsiam_loss
from visim.models.model_config import METHODS, ModelConfig
from visim.models.power_spherical import PowerSpherical
from visim.models.siamese import SiameseModel, SiameseOutput, build_model

__all__ = [
    "BACKBONE_ARCHS",
    "METHODS",
    "HypersphericalUniform",
    "ModelConfig",
    "PowerSpherical",
    "SiameseModel",
    "SiameseOutput",
    "build_backbone",
    "build_model",
    "kappa_statistics",
    "representation_std",
    "simsiam_loss",
    "uniform_log_density",
    "vi_simsiam_loss",
]
