"""Images in, two augmented views out: readers, convert, the recipe and the loader backends.

sources/ reads every input format behind one interface, convert/ writes a source to an FFCV
.beton, augment/ holds the recipe and what executes its colour stage, backends/ the two-view
loaders (torch, synthetic, ffcv/, dali/) and evaluation's one-view loader.

The names below are imported when first used (PEP 562), so that importing one light module
of this package (sources.factory or backends.registry, which the command line reads for
--help) does not load torch.
"""

from __future__ import annotations

import importlib

# Exported name -> the module that defines it.
_EXPORTS = {
    "ImageSource": "visim.pipeline.sources.base",
    "SourceError": "visim.pipeline.sources.base",
    "UnreadableImage": "visim.pipeline.sources.base",
    "open_source": "visim.pipeline.sources.factory",
    "open_split": "visim.pipeline.sources.factory",
    "WriteSettings": "visim.pipeline.convert.to_beton",
    "convert_source": "visim.pipeline.convert.to_beton",
    "read_manifest": "visim.pipeline.convert.manifest",
    "AugmentationRecipe": "visim.pipeline.augment.recipe",
    "recipe_preset": "visim.pipeline.augment.recipe",
    "Batch": "visim.pipeline.backends.batch",
    "LoaderSpec": "visim.pipeline.backends.loader_spec",
    "TwoViewLoader": "visim.pipeline.backends.loader_spec",
    "BACKENDS": "visim.pipeline.backends.registry",
    "MissingExtraError": "visim.pipeline.backends.registry",
    "make_loader": "visim.pipeline.backends.registry",
    "augmented_batches": "visim.pipeline.backends.eval_loader",
    "clean_batches": "visim.pipeline.backends.eval_loader",
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
