"""Drawing of the built-in demo images: a shape whose geometry is the class, on clutter.

Ten classes = five shapes x two styles (solid, outline). Everything else is drawn at random
per image: position, size, rotation, aspect, colours, background texture and pixel noise.
So the class lies in the geometry alone: colour and texture statistics, which even an
untrained network picks up, say nothing about it, while SimSiam's crops, flips and colour
changes keep it - the invariance pre-training has to learn. `draw_demo_image_with_factors`
also says what was drawn, for analyses of what a model's outputs follow
(benchmarks/method/demo_kappa_factors.py).
"""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star", "cross")
STYLES = ("solid", "outline")
DEMO_CLASSES = [f"{style} {shape}" for shape in SHAPES for style in STYLES]
TEXTURES = ("flat", "gradient", "stripes", "checker", "blobs")
SUPERSAMPLE = 4  # shapes are drawn this many times larger, then averaged down: anti-aliasing


@dataclass(frozen=True)
class DemoFactors:
    """What was drawn at random for one demo image besides its class."""

    light_background: bool  # a light background with a dark shape, else the reverse
    texture: str  # one of TEXTURES
    radius: float  # the shape's size: its far points' distance from its centre / image side
    noise: float  # std of the pixel noise, on [0, 1] intensities


def _polygon(shape: str, radius: float) -> np.ndarray:
    """Vertices [K, 2] of a shape centred on 0 whose far points lie at `radius`."""
    if shape == "square":
        angles, radii = np.arange(4) * np.pi / 2 + np.pi / 4, np.full(4, 1.1 * radius)
    elif shape == "triangle":
        angles, radii = np.arange(3) * 2 * np.pi / 3 - np.pi / 2, np.full(3, radius)
    elif shape == "star":
        angles = np.arange(10) * np.pi / 5 - np.pi / 2
        radii = np.where(np.arange(10) % 2 == 0, radius, 0.45 * radius)
    else:  # cross: a plus sign whose arms are 0.6 radius wide
        w = 0.3 * radius
        return np.array([
            (w, radius), (w, w), (radius, w), (radius, -w), (w, -w), (w, -radius),
            (-w, -radius), (-w, -w), (-radius, -w), (-radius, w), (-w, w), (-w, radius),
        ])  # fmt: skip
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _shape_mask(rng: np.random.Generator, label: int, size: int) -> tuple[np.ndarray, float]:
    """(coverage float [size, size] in [0, 1] of the class's shape, randomly placed; its radius
    as a fraction of the image side)."""
    shape, style = SHAPES[label // len(STYLES)], STYLES[label % len(STYLES)]
    big = size * SUPERSAMPLE
    radius_fraction = rng.uniform(0.22, 0.38)
    radius = radius_fraction * big
    centre = rng.uniform(radius, big - radius, size=2)
    width = max(2 * SUPERSAMPLE, round(rng.uniform(0.12, 0.2) * radius))
    canvas = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(canvas)
    fill, outline = (255, None) if style == "solid" else (None, 255)
    if shape == "circle":
        aspect = np.sqrt(rng.uniform(0.8, 1.25))
        rx, ry = radius * aspect, radius / aspect
        box = [centre[0] - rx, centre[1] - ry, centre[0] + rx, centre[1] + ry]
        draw.ellipse(box, fill=fill, outline=outline, width=width)
    else:
        aspect = np.sqrt(rng.uniform(0.8, 1.25))
        angle = rng.uniform(0, 2 * np.pi)
        c, s = np.cos(angle), np.sin(angle)
        points = _polygon(shape, radius) * [aspect, 1 / aspect] @ np.array([[c, s], [-s, c]])
        points = [tuple(p) for p in points + centre]
        draw.polygon(points, fill=fill, outline=outline, width=width)
    small = canvas.resize((size, size), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255, radius_fraction


def _texture(rng: np.random.Generator, size: int, kind: str) -> np.ndarray:
    """Mixing weights float [size, size] in [0, 1] between two background colours."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    angle = rng.uniform(0, 2 * np.pi)
    along = x * np.cos(angle) + y * np.sin(angle)
    if kind == "flat":
        return np.zeros((size, size), np.float32)
    if kind == "gradient":
        return (along - along.min()) / (along.max() - along.min())
    if kind == "stripes":
        cycles = rng.uniform(2, 7)
        return 0.5 + 0.5 * np.sin(2 * np.pi * cycles * along + rng.uniform(0, 2 * np.pi))
    if kind == "checker":
        cells = rng.integers(3, 9)
        return ((np.floor(x * cells) + np.floor(y * cells)) % 2).astype(np.float32)
    # blobs: coarse noise smoothly enlarged
    coarse = rng.uniform(0, 255, size=(6, 6)).astype(np.uint8)
    smooth = Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(smooth, dtype=np.float32) / 255


def _color(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


def draw_demo_image(rng: np.random.Generator, label: int, size: int = 64) -> np.ndarray:
    """One demo image of class `label` as uint8 [size, size, 3]."""
    return draw_demo_image_with_factors(rng, label, size)[0]


def draw_demo_image_with_factors(
    rng: np.random.Generator, label: int, size: int = 64
) -> tuple[np.ndarray, DemoFactors]:
    """draw_demo_image's image, and the factors it drew. Both consume `rng` identically."""
    hue, light_background = rng.uniform(), rng.uniform() < 0.5
    value = rng.uniform(0.6, 1.0) if light_background else rng.uniform(0.05, 0.45)
    background = _color(hue, rng.uniform(0, 0.8), value)
    second = _color(hue + rng.uniform(-0.2, 0.2), rng.uniform(0, 0.8), value * rng.uniform(0.6, 1))
    # The shape gets a distant hue and the opposite lightness, so it always stands out.
    foreground = _color(
        hue + rng.uniform(0.25, 0.75),
        rng.uniform(0.3, 1.0),
        rng.uniform(0.05, 0.4) if light_background else rng.uniform(0.6, 1.0),
    )
    texture = TEXTURES[rng.integers(len(TEXTURES))]
    weight = _texture(rng, size, texture)[:, :, None]
    image = background * (1 - weight) + second * weight
    mask, radius = _shape_mask(rng, label, size)
    image = image * (1 - mask[:, :, None]) + foreground * mask[:, :, None]
    noise = rng.uniform(0, 0.06)
    image += rng.normal(0, noise, size=image.shape).astype(np.float32)
    factors = DemoFactors(bool(light_background), texture, float(radius), float(noise))
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), factors
