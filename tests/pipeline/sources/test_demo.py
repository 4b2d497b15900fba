import numpy as np
import pytest

from visim.evaluation.ranking_metrics import auroc
from visim.pipeline.sources.base import SourceError
from visim.pipeline.sources.demo import DEFAULT_TRAIN_IMAGES, DemoSource, parse_demo_spec
from visim.pipeline.sources.demo_shapes import TEXTURES, draw_demo_image_with_factors
from visim.pipeline.sources.factory import open_source


def test_the_default_demo_set():
    train, test = open_source("demo", "train"), open_source("demo", "test")
    assert (len(train), len(test)) == (DEFAULT_TRAIN_IMAGES, DEFAULT_TRAIN_IMAGES // 4)
    assert len(train.classes) == 10 and len(set(train.classes)) == 10
    assert np.bincount(train.labels).tolist() == [DEFAULT_TRAIN_IMAGES // 10] * 10
    image = train.load(0)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8


def test_same_seed_same_pixels_in_any_order():
    first, second = DemoSource(200, seed=5), DemoSource(200, seed=5)
    later = second.load(17)
    assert (first.load(17) == later).all()
    assert (first.load(3) == second.load(3)).all()


def test_seed_split_and_index_each_change_the_pixels():
    base = DemoSource(200, seed=5).load(10)
    assert (DemoSource(200, seed=6).load(10) != base).any()
    assert (DemoSource(200, seed=5, split="test").load(10) != base).any()
    assert (DemoSource(200, seed=5).load(20) != base).any()  # same class, other image


@pytest.mark.parametrize(
    ("spec", "expected"), [("demo", (4000, 0)), ("demo:200", (200, 0)), ("demo:200:7", (200, 7))]
)
def test_demo_spec(spec, expected):
    assert parse_demo_spec(spec) == expected
    source = open_source(spec, "test")
    assert len(source) == expected[0] // 4
    assert source.location == f"demo:{expected[0]}:{expected[1]}"


@pytest.mark.parametrize("spec", ["demo:", "demo:abc", "demo:100:1:2", "demo:-5", "demo:20"])
def test_bad_demo_specs_are_refused(spec):
    with pytest.raises(SourceError, match="bad demo source"):
        open_source(spec)


def test_color_alone_does_not_tell_the_class():
    """The class lives in the shape: mean colour is a poor nearest-class-mean classifier."""
    train, test = DemoSource(1000, seed=0), DemoSource(1000, seed=0, split="test")

    def mean_colors(source):
        return np.stack([source.load(i).reshape(-1, 3).mean(0) for i in range(len(source))])

    train_colors, test_colors = mean_colors(train), mean_colors(test)
    centres = np.stack([train_colors[train.labels == k].mean(0) for k in range(10)])
    distances = ((test_colors[:, None] - centres[None]) ** 2).sum(-1)
    accuracy = (distances.argmin(1) == test.labels).mean()
    assert accuracy < 0.25  # chance is 0.1


def test_factors_describe_the_image_load_draws():
    """factors() draws the image load() gives again: its light or dark background shows in
    the pixels, and every factor stays in the range it is drawn from."""
    source = DemoSource(400, seed=3)
    images = [source.load(i) for i in range(len(source))]
    factors = [source.factors(i) for i in range(len(source))]
    again = draw_demo_image_with_factors(np.random.default_rng([3, 0, 7]), int(source.labels[7]))
    assert (again[0] == images[7]).all() and again[1] == factors[7]
    # HSV value (the brightest channel) of the border, where the shape rarely reaches.
    border = [np.concatenate([im[:3].reshape(-1, 3), im[-3:].reshape(-1, 3)]).max(1).mean()
              for im in images]  # fmt: skip
    light = np.array([f.light_background for f in factors])
    assert 0.3 < light.mean() < 0.7
    assert auroc(np.array(border), light) > 0.95
    assert {f.texture for f in factors} == set(TEXTURES)
    radius, noise = np.array([f.radius for f in factors]), np.array([f.noise for f in factors])
    assert radius.min() >= 0.22 and radius.max() <= 0.38
    assert noise.min() >= 0 and noise.max() <= 0.06
