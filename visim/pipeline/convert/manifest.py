"""The JSON written beside every .beton: what is inside it, where it came from, what was skipped.

digits.beton -> digits.json. The FFCV loader and evaluation read class names from it.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from visim.pipeline.sources.base import SourceError

# Field names in the .beton, in the order FFCV stores (and yields) them.
IMAGE_FIELD = "image"
LABEL_FIELD = "label"


@dataclass(frozen=True)
class Manifest:
    classes: list[str]  # names in label order
    num_images: int
    per_class: dict[str, int]  # images written per class name
    source: str  # what the user passed
    source_format: str
    split: str
    skipped: list[dict[str, str]] = field(default_factory=list)  # [{path, reason}]
    settings: dict[str, object] = field(default_factory=dict)  # how the images were written
    fields: list[str] = field(default_factory=lambda: [IMAGE_FIELD, LABEL_FIELD])
    visim_version: str = ""
    # beton_checksums.Checksums.to_json() of the .beton as written; None in manifests written
    # before visim recorded them.
    checksums: dict | None = None


def manifest_path(beton_path: str | Path) -> Path:
    return Path(beton_path).with_suffix(".json")


def manifest_json(manifest: Manifest) -> str:
    return json.dumps(dataclasses.asdict(manifest), indent=2) + "\n"


def read_manifest(beton_path: str | Path) -> Manifest:
    """The manifest beside `beton_path`; SourceError naming the file if absent or malformed."""
    path = manifest_path(beton_path)
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        raise SourceError(
            f"{path}: manifest not found beside {Path(beton_path).name}; "
            "write the .beton with `visim convert`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SourceError(f"{path}: cannot read manifest ({error})") from None
    known = dataclasses.fields(Manifest)
    required = [
        f.name
        for f in known
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    missing = [name for name in required if not isinstance(content, dict) or name not in content]
    if missing:
        raise SourceError(f"{path}: not a visim manifest (missing {', '.join(missing)})")
    return Manifest(**{f.name: content[f.name] for f in known if f.name in content})
