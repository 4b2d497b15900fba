"""Write an ImageFolder of photo-like JPEGs for the pipeline benchmark (there is no network here).

Each image is coloured 1/f ("pink") noise, whose spectrum falls off like natural photographs,
with a few hard-edged shapes on top, saved at 400x350 with JPEG quality 90. That lands the files
in the 30-110 KB range of ImageNet-style photos, so decoding costs what it costs on real data.
Classes differ in spectral slope and palette, so the labels are not meaningless.

    python benchmarks/throughput/make_bench_images.py OUT_DIR --images 1000 --classes 10
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

WIDTH, HEIGHT = 400, 350


def pink_noise(rng: np.random.Generator, slope: float) -> np.ndarray:
    """float [HEIGHT, WIDTH, 3] in [0, 1]: noise whose amplitude spectrum decays as 1/f^slope."""
    fy = np.fft.fftfreq(HEIGHT)[:, None]
    fx = np.fft.rfftfreq(WIDTH)[None, :]
    radius = np.sqrt(fx**2 + fy**2)
    radius[0, 0] = 1.0  # the mean is set below, not by the spectrum
    amplitude = radius**-slope
    channels = []
    shared_phase = rng.uniform(0, 2 * np.pi, amplitude.shape)
    for _ in range(3):
        # Mostly shared phase: colour channels of photos are strongly correlated.
        phase = shared_phase + rng.normal(0, 0.6, amplitude.shape)
        channel = np.fft.irfft2(amplitude * np.exp(1j * phase), s=(HEIGHT, WIDTH))
        channels.append((channel - channel.mean()) / (channel.std() + 1e-8))
    image = np.stack(channels, axis=-1)
    return np.clip(0.5 + 0.18 * image, 0, 1)


def render(rng: np.random.Generator, slope: float, tint: np.ndarray) -> Image.Image:
    pixels = pink_noise(rng, slope) * tint
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(rng.integers(2, 6)):
        x0, y0 = rng.integers(0, WIDTH - 40), rng.integers(0, HEIGHT - 40)
        x1, y1 = x0 + rng.integers(30, 200), y0 + rng.integers(30, 180)
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=color)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=color)
    return image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--quality", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    slopes = rng.uniform(0.6, 1.4, args.classes)
    tints = rng.uniform(0.6, 1.3, (args.classes, 3))
    sizes = []
    for index in range(args.images):
        label = index % args.classes
        folder = args.out / f"class_{label:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{index:05d}.jpg"
        render(rng, slopes[label], tints[label]).save(path, quality=args.quality)
        sizes.append(path.stat().st_size / 1024)
    print(
        f"wrote {args.images} images ({WIDTH}x{HEIGHT}, quality {args.quality}) to {args.out}: "
        f"{np.min(sizes):.0f}-{np.max(sizes):.0f} KB, median {np.median(sizes):.0f} KB"
    )


if __name__ == "__main__":
    main()
