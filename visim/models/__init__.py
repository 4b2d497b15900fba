"""Backbones, heads, the Power Spherical distribution, SimSiam / VI-SimSiam and their losses.

The names below are imported when first used (PEP 562), so that importing one light module
of this package (model_config, which the command line reads for --help) does not load torch.
"""

from __future__ import annotations

import importlib

# Exported name -> the module that defines it.
_EXPORTS = {
    "BACKBONE_ARCHS": "visim.models.model_config",
    "METHODS": "visim.models.model_config",
    "ModelConfig": "visim.models.model_config",
    "build_backbone": "visim.models.backbones",
    "kappa_statistics": "visim.models.collapse_monitor",
    "representation_std": "visim.models.collapse_monitor",
    "HypersphericalUniform": "visim.models.power_spherical",
    "simsiam_loss": "visim.models.losses",
    "uniform_log_density": "visim.models.losses",
    "vi_simsiam_loss": "visim.models.losses",
    "PowerSpherical": "visim.models.power_spherical",
    "SiameseModel": "visim.models.siamese",
    "SiameseOutput": "visim.models.siamese",
    "build_model": "visim.models.siamese",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value  # found directly next time
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
