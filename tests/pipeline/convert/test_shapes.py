"""Images of any shape convert at every write mode and resolution; what the encoder still
rejects is skipped and named, and a writer process that fails names its image."""

import os
import signal

import numpy as np
import pytest
from PIL import Image

from tests.pipeline.image_files import save
from visim.pipeline.convert.to_beton import (
    MAX_RESOLUTION,
    WRITE_MODES,
    WriteSettings,
    convert_source,
)
from visim.pipeline.convert.worker_processes import WorkerDied
from visim.pipeline.sources.factory import open_source

ffcv = pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
pytestmark = pytest.mark.ffcv

from ffcv.fields.rgb_image import RGBImageField, resizer  # noqa: E402 - after the skip

from visim.pipeline.convert.beton_writer import fit_within  # noqa: E402

# (height, width): panoramas and strips far longer than any --max-resolution, single pixels,
# a side that rounds to 0 just above a resolution, and an ordinary photo shape.
EXTREME_SHAPES = [(3, 2000), (2000, 3), (1, 500), (500, 1), (1, 1), (1, 257), (40, 9), (300, 200)]
RESOLUTIONS = [8, 256]


def pixels(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def shrunk_shape(height: int, width: int, max_side: int) -> tuple[int, int]:
    """What a longest side of at most max_side leaves, never below one pixel."""
    scale = min(1.0, max_side / max(height, width))
    return max(1, int(height * scale)), max(1, int(width * scale))


@pytest.fixture(scope="module")
def extreme_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    for index, (height, width) in enumerate(EXTREME_SHAPES):
        # One class per shape, so each image can be found again by its label.
        save(
            root / f"{index:02d}_{height}x{width}" / "image.png",
            Image.fromarray(pixels(height, width, index)),
        )
    return root


@pytest.mark.parametrize("max_resolution", RESOLUTIONS)
@pytest.mark.parametrize("write_mode", WRITE_MODES)
def test_every_shape_is_stored_at_every_mode_and_resolution(
    extreme_folder, tmp_path, write_mode, max_resolution
):
    source = open_source(extreme_folder)
    settings = WriteSettings(max_resolution=max_resolution, write_mode=write_mode, workers=2)
    result = convert_source(source, tmp_path / "shapes.beton", settings)
    assert result.manifest.skipped == []
    stored = open_source(tmp_path / "shapes.beton")
    assert len(stored) == len(EXTREME_SHAPES)
    for index in range(len(stored)):
        height, width = EXTREME_SHAPES[int(stored.labels[index])]
        image = stored.load(index)
        assert image.shape == (*shrunk_shape(height, width, max_resolution), 3), (height, width)
        if write_mode == "raw":
            original = source.load(int(np.flatnonzero(source.labels == stored.labels[index])[0]))
            np.testing.assert_array_equal(image, fit_within(original, max_resolution))


@pytest.mark.parametrize("shape", [(300, 200), (200, 300), (257, 256), (1000, 999), (64, 64)])
def test_images_ffcv_can_shrink_are_shrunk_exactly_as_ffcv_does(shape):
    image = pixels(*shape, seed=sum(shape))
    np.testing.assert_array_equal(fit_within(image, 256), resizer(image, 256))


@pytest.mark.parametrize("shape", EXTREME_SHAPES)
@pytest.mark.parametrize("max_side", [8, 256, MAX_RESOLUTION])
def test_no_side_drops_to_zero(shape, max_side):
    fitted = fit_within(pixels(*shape, seed=1), max_side)
    assert fitted.shape == (*shrunk_shape(*shape, max_side), 3)


def test_array_sources_of_strips_convert_too(tmp_path):
    strips = np.stack([pixels(1, 700, seed) for seed in range(4)])  # [4, 1, 700, 3]
    np.savez(tmp_path / "strips.npz", images=strips, labels=np.array([0, 1, 0, 1]))
    result = convert_source(
        open_source(tmp_path / "strips.npz"), tmp_path / "strips.beton", WriteSettings(workers=1)
    )
    assert result.manifest.num_images == 4 and result.manifest.skipped == []
    assert open_source(tmp_path / "strips.beton").load(3).shape == (1, 256, 3)


def test_a_resolution_ffcv_cannot_page_is_refused():
    with pytest.raises(ValueError, match=f"max resolution must be in \\[8, {MAX_RESOLUTION}\\]"):
        WriteSettings(max_resolution=MAX_RESOLUTION + 1)


def fail_on_width(monkeypatch, width: int, action) -> None:
    """RGBImageField.encode runs action() for images `width` px wide (after shrinking); the
    writer processes are forked, so they inherit the patch."""
    encode = RGBImageField.encode

    def patched(self, destination, image, malloc):
        if image.shape[1] == width:
            action()
        return encode(self, destination, image, malloc)

    monkeypatch.setattr(RGBImageField, "encode", patched)


def small_folder(root, widths=(5, 6, 7, 8)):
    for width in widths:
        save(root / "a" / f"w{width}.png", Image.fromarray(pixels(4, width, width)))
    return root


def raise_value_error():
    raise ValueError("the encoder does not like this one")


def test_an_image_the_encoder_raises_on_is_skipped_and_listed(tmp_path, monkeypatch):
    fail_on_width(monkeypatch, 6, raise_value_error)
    source = open_source(small_folder(tmp_path / "src"))
    result = convert_source(source, tmp_path / "o.beton", WriteSettings(workers=2))
    assert result.manifest.num_images == 3
    (skipped,) = result.manifest.skipped
    assert skipped["path"].endswith("w6.png")
    assert (
        skipped["reason"] == "FFCV cannot encode it: ValueError: the encoder does not like this one"
    )
    widths = sorted(open_source(tmp_path / "o.beton").load(i).shape[1] for i in range(3))
    assert widths == [5, 7, 8]


def test_strict_mode_fails_on_an_image_the_encoder_raises_on(tmp_path, monkeypatch):
    from visim.pipeline.convert.to_beton import StrictModeError

    fail_on_width(monkeypatch, 7, raise_value_error)
    source = open_source(small_folder(tmp_path / "src"))
    with pytest.raises(StrictModeError, match="w7.png: FFCV cannot encode it"):
        convert_source(source, tmp_path / "o.beton", WriteSettings(workers=1), strict=True)
    assert sorted(os.listdir(tmp_path)) == ["src"]


def disk_full():
    raise OSError(28, "No space left on device")


def killed():
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize(
    ("action", "message"),
    [(disk_full, "No space left on device"), (killed, "exited with code -9")],
    ids=["OSError", "SIGKILL"],
)
def test_a_writer_that_fails_for_another_reason_names_its_image(
    tmp_path, monkeypatch, action, message
):
    fail_on_width(monkeypatch, 8, action)
    source = open_source(small_folder(tmp_path / "src"))
    with pytest.raises(WorkerDied, match=f"writing .*w8.png: .*{message}"):
        convert_source(source, tmp_path / "o.beton", WriteSettings(workers=2))
    assert sorted(os.listdir(tmp_path)) == ["src"]


@pytest.mark.slow
def test_the_ffcv_loader_reads_every_shape(extreme_folder, tmp_path):
    from visim.pipeline.augment.recipe import recipe_preset
    from visim.pipeline.backends.loader_spec import LoaderSpec
    from visim.pipeline.backends.registry import make_loader

    convert_source(open_source(extreme_folder), tmp_path / "s.beton", WriteSettings(workers=1))
    # No colour ops: FFCV compiles the crop alone, in seconds.
    recipe = recipe_preset("small", size=16).replace(
        jitter_prob=0.0, grayscale_prob=0.0, blur_prob=0.0
    )
    spec = LoaderSpec(tmp_path / "s.beton", recipe, batch_size=len(EXTREME_SHAPES), workers=1)
    loader = make_loader("ffcv", spec)
    loader.set_epoch(0)
    (batch,) = list(loader)
    assert batch.view1.shape == batch.view2.shape == (len(EXTREME_SHAPES), 3, 16, 16)
    assert sorted(batch.label.tolist()) == list(range(len(EXTREME_SHAPES)))
    assert bool(batch.view1.isfinite().all())
