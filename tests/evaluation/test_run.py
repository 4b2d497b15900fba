"""evaluate_run on run directories written with the trainer's own functions (config + export).

The end-to-end path through a real `visim pretrain` run is in tests/cli/test_eval_cli.py.
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from accelerate.utils import set_seed

from visim.evaluation.eval_report import json_ready, read_eval_report
from visim.evaluation.eval_settings import EvalSettings
from visim.evaluation.evaluate import check_same_classes, evaluate_run
from visim.evaluation.run_loading import EvalError, open_run
from visim.evaluation.uncertainty_metrics import METRICS
from visim.evaluation.uncertainty_scores import LABEL_FREE
from visim.models.model_config import ModelConfig
from visim.models.siamese import build_model
from visim.pipeline.backends.loader_workers import default_loader_workers
from visim.pipeline.sources.demo_shapes import DEMO_CLASSES
from visim.pipeline.sources.factory import open_source
from visim.train.checkpoint import Position, save_checkpoint
from visim.train.config import DataConfig, RuntimeConfig, TrainConfig
from visim.train.export import export_weights
from visim.train.run_dir import RunDir

SEED = 3
# Quick settings: no augmented views, no plots; 16 px crops keep the forward passes cheap.
QUICK = {
    "train": "demo:40",
    "test": "demo:40",
    "augmented_images": 0,
    "plots": False,
    "grid_images": 0,
    "batch_size": 64,
    "workers": 0,
    "kappa_bins": 5,
    "device": "cpu",
}


def tiny_config(method: str = "vi-simsiam", **model_options) -> TrainConfig:
    return TrainConfig(
        data=DataConfig(source="demo:40", recipe="cifar", size=16, workers=0),
        model=ModelConfig(
            method=method,
            arch="resnet18",
            cifar_stem=True,
            proj_dim=32,
            pred_hidden_dim=8,
            **model_options,
        ),
        runtime=RuntimeConfig(seed=SEED),
    )


def write_run(path, method: str = "vi-simsiam", shift: float = 0.0, **model_options) -> RunDir:
    """config.toml + model.safetensors as a finished run leaves them; `shift` moves weights."""
    run_dir = RunDir(path)
    config = tiny_config(method, **model_options)
    run_dir.write_config(config)
    # Seeded apart from the caller's random state: the same weights in every test order.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = build_model(config.model)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(shift)
    export_weights(model, run_dir)
    return run_dir


def test_random_init_is_the_trainers_starting_point(tmp_path):
    run = open_run(write_run(tmp_path).path)
    set_seed(SEED)  # what the training loop does before build_model
    expected = build_model(tiny_config().model).state_dict()
    for name, value in run.random_model().state_dict().items():
        torch.testing.assert_close(value, expected[name], msg=name)


def test_report_and_cache_follow_the_checkpoint(tmp_path):
    run_dir = write_run(tmp_path)
    first = evaluate_run(tmp_path, EvalSettings(**QUICK))
    assert first.feature_cache_hits == 0
    written = json.loads((tmp_path / "eval" / "eval.json").read_text())
    # eval.json is the report, field for field, and reads back as the same report.
    assert written == json_ready(first)
    assert json_ready(read_eval_report(tmp_path / "eval" / "eval.json")) == written
    assert set(written["results"]) == {"pretrained", "random_init"}
    for variant in written["results"].values():
        for classifier in ("knn", "linear_probe"):
            assert 0 <= variant[classifier]["top1"] <= variant[classifier]["top5"] <= 1
    bins = written["kappa"]["vs_probe_correctness"]["bins"]
    assert [b["count"] for b in bins] == [2] * 5  # 10 test images in 5 equal-count bins

    again = evaluate_run(tmp_path, EvalSettings(**QUICK))
    assert again.feature_cache_hits == 4  # both variants, train and test
    assert again.results == first.results

    # A new checkpoint: the pretrained features are stale, the random-init ones are not.
    write_run(run_dir.path, shift=0.01)
    changed = evaluate_run(tmp_path, EvalSettings(**QUICK))
    assert changed.feature_cache_hits == 2
    assert changed.kappa is not None and first.kappa is not None
    assert changed.kappa.summary["clean"] != first.kappa.summary["clean"]


def test_simsiam_run_has_no_kappa_section_but_scores_ood_with_its_features(tmp_path):
    write_run(tmp_path, method="simsiam")
    report = evaluate_run(tmp_path, EvalSettings(**QUICK, ood="demo:40:1"))
    assert report.kappa is None
    assert "kappa" not in report.uncertainty.scores
    assert 0 <= report.uncertainty.scores["knn_distance_50"].ood_auroc <= 1
    assert not any("ood" in warning.lower() for warning in report.warnings)


def test_latest_training_checkpoint_is_used_when_there_is_no_export(tmp_path):
    run_dir = RunDir(tmp_path)
    config = tiny_config()
    run_dir.write_config(config)
    state = {"model": build_model(config.model).state_dict()}
    path = save_checkpoint(run_dir.checkpoints, Position(epoch=0, batch=1, step=1), state)
    assert open_run(tmp_path).weights == path


def test_run_without_checkpoint_is_refused(tmp_path):
    RunDir(tmp_path).write_config(tiny_config())
    with pytest.raises(EvalError, match="no checkpoint yet"):
        open_run(tmp_path)


def test_directory_without_config_is_refused(tmp_path):
    with pytest.raises(EvalError, match="no config.toml"):
        open_run(tmp_path)


def test_missing_explicit_checkpoint_is_refused(tmp_path):
    write_run(tmp_path)
    with pytest.raises(EvalError, match="--checkpoint .*no such file"):
        open_run(tmp_path, tmp_path / "nope.safetensors")


def test_weights_of_another_model_are_refused(tmp_path):
    write_run(tmp_path, method="simsiam")  # exported without a kappa head
    RunDir(tmp_path).write_config(tiny_config("vi-simsiam"))
    with pytest.raises(EvalError, match="does not fit the run's model"):
        open_run(tmp_path).pretrained_model()


def test_test_set_with_the_classes_in_another_order_is_refused(tmp_path):
    npz = tmp_path / "reordered.npz"
    labels = np.arange(10)
    images = np.zeros((10, 8, 8, 3), np.uint8)
    np.savez(npz, images=images, labels=labels, classes=np.array(DEMO_CLASSES[::-1]))
    with pytest.raises(EvalError, match="--test .*different label order"):
        check_same_classes(open_source("demo:40", "train"), open_source(str(npz), "train"))


def test_invalid_setting_names_its_option():
    with pytest.raises(EvalError, match="--knn-k must be at least 1, got 0"):
        EvalSettings(train="demo", test="demo", knn_k=0)


def test_undefined_numbers_become_json_null():
    assert json_ready({"rho": [float("nan"), 0.5], "n": 3}) == {"rho": [None, 0.5], "n": 3}


def test_a_stale_eval_json_names_the_field_it_lacks(tmp_path):
    write_run(tmp_path)
    evaluate_run(tmp_path, EvalSettings(**QUICK))
    path = tmp_path / "eval" / "eval.json"
    written = json.loads(path.read_text())
    del written["uncertainty"]["scores"]["kappa"]["r_auroc"]
    path.write_text(json.dumps(written))
    with pytest.raises(
        ValueError, match=r"EvalReport.uncertainty.scores\['kappa'\]: missing \['r_auroc'\]"
    ):
        read_eval_report(path)


def test_a_view_readout_reports_every_readout_and_scores_images_with_the_chosen_one(tmp_path):
    write_run(tmp_path)
    # Test images apart from the training ones, so that the probe is wrong on some and the
    # right-answer AUROC is defined.
    settings = EvalSettings(
        **{**QUICK, "test": "demo:120:2", "augmented_images": 6},
        ood="demo:40:1",
        kappa_readout="median",
        kappa_views=3,
    )
    report = evaluate_run(tmp_path, settings)
    kappa = report.kappa
    assert kappa is not None
    assert (kappa.readout.method, kappa.readout.views) == ("median", 3)
    assert set(kappa.by_readout) == {"center", "mean", "median", "fit"}
    for metrics in kappa.by_readout.values():
        for name in ("r_auroc", "probe_auroc", "ood_auroc", "ood_fpr95"):
            assert 0 <= getattr(metrics, name) <= 1, name
    # The bins and the uncertainty metrics follow the chosen readout, not the centre crop.
    assert kappa.vs_probe_correctness.auroc_correct == kappa.by_readout["median"].probe_auroc
    scored = report.uncertainty.scores["kappa"]
    for name in ("r_auroc", "probe_auroc", "ood_auroc", "ood_fpr95"):
        assert getattr(scored, name) == getattr(kappa.by_readout["median"], name), name
    assert {"clean", "augmented", "ood", "readout", "ood_readout"} <= set(kappa.summary)
    assert kappa.summary["augmented"].count == 6 * 3  # the readout's own views
    assert isinstance(kappa.augmented_below_clean, bool)


def test_the_centre_readout_draws_no_views_unless_the_histogram_needs_them(tmp_path):
    write_run(tmp_path)
    kappa = evaluate_run(tmp_path, EvalSettings(**{**QUICK, "augmented_images": 4})).kappa
    assert kappa is not None
    assert set(kappa.by_readout) == {"center"}
    assert kappa.summary["augmented"].count == 4 * 2  # two views each for the histogram
    assert "readout" not in kappa.summary


def test_every_uncertainty_score_is_measured_by_every_metric_for_both_methods(tmp_path):
    for method in ("simsiam", "vi-simsiam"):
        write_run(tmp_path / method, method=method)
        # Test images apart from the training ones, so that the probe is wrong on some and
        # the right-answer AUROC is defined.
        settings = EvalSettings(
            **{**QUICK, "test": "demo:120:2", "degraded_images": 25}, ood="demo:40:1"
        )
        uncertainty = evaluate_run(tmp_path / method, settings).uncertainty
        expected = {*LABEL_FREE, "probe_entropy"}
        if method == "vi-simsiam":
            expected.add("kappa")
        assert set(uncertainty.scores) == expected
        assert 0 <= uncertainty.r_at_1 <= 1
        # demo:40:1's test split holds 10 images, demo:120:2's 30: 10 of each.
        assert uncertainty.ood_images_per_side == 10
        assert uncertainty.degraded_images == 25
        for name, metrics in uncertainty.scores.items():
            assert metrics.source == (
                "learned"
                if name == "kappa"
                else "supervised"
                if name == "probe_entropy"
                else "label-free"
            )
            for metric in METRICS:
                assert 0 <= getattr(metrics, metric) <= 1, (method, name, metric)
        assert uncertainty.compare is None


def test_a_compare_run_is_measured_on_the_same_images_as_on_its_own(tmp_path):
    write_run(tmp_path / "simsiam", method="simsiam")
    write_run(tmp_path / "vi", method="vi-simsiam", shift=0.01)
    settings = {**QUICK, "test": "demo:120:2", "degraded_images": 20, "ood": "demo:40:1"}
    alone = evaluate_run(tmp_path / "simsiam", EvalSettings(**settings))
    compared = evaluate_run(
        tmp_path / "vi", EvalSettings(**settings, compare=tmp_path / "simsiam")
    ).uncertainty.compare
    assert compared is not None
    assert compared.method == "simsiam"
    assert compared.results == alone.results["pretrained"]
    assert compared.r_at_1 == alone.uncertainty.r_at_1
    for count in ("ood_images_per_side", "degraded_images"):  # the same images, counted alike
        assert getattr(compared, count) == getattr(alone.uncertainty, count), count
    # The compare run's label-free scores, exactly as its own evaluation measures them.
    assert set(compared.scores) == set(LABEL_FREE)
    for name, metrics in compared.scores.items():
        assert metrics == alone.uncertainty.scores[name], name


def test_a_compare_path_that_is_no_run_names_the_option(tmp_path):
    write_run(tmp_path / "vi")
    settings = EvalSettings(**QUICK, compare=tmp_path / "missing")
    with pytest.raises(EvalError, match="--compare .*missing"):
        evaluate_run(tmp_path / "vi", settings)


def with_kappa_head(run_dir: RunDir, weight_std: float) -> None:
    """Re-export the run with its kappa head's weights drawn at `weight_std` (0: a head that
    ignores its input) and a bias that puts kappa well above its floor."""
    model = open_run(run_dir.path).pretrained_model()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        weight = model.kappa_head.linear.weight
        weight.copy_(torch.randn(weight.shape, generator=generator) * weight_std)
        model.kappa_head.linear.bias.fill_(0.3)
    export_weights(model, run_dir)


def test_a_kappa_that_is_one_number_for_every_image_is_warned_about(tmp_path):
    # Without the support bank, so that the head alone decides kappa.
    with_kappa_head(write_run(tmp_path, kappa_support="none"), weight_std=0.0)
    report = evaluate_run(tmp_path, EvalSettings(**QUICK))
    assert report.kappa is not None and not report.kappa.spread.informative
    assert any("no per-image information" in warning for warning in report.warnings)
    # Nothing rises when every image gets the same uncertainty.
    assert report.uncertainty.scores["kappa"].cropped_higher == 0.0


def test_a_kappa_that_varies_is_not_warned_about(tmp_path):
    with_kappa_head(write_run(tmp_path, kappa_support="none"), weight_std=0.1)
    report = evaluate_run(tmp_path, EvalSettings(**QUICK))
    assert report.kappa is not None and report.kappa.spread.informative
    assert not any("no per-image information" in warning for warning in report.warnings)


def test_the_fit_readout_scores_images_by_how_their_views_agree(tmp_path):
    write_run(tmp_path)
    settings = EvalSettings(
        **{**QUICK, "test": "demo:120:2"}, ood="demo:40:1", kappa_readout="fit", kappa_views=2
    )
    report = evaluate_run(tmp_path, settings)
    kappa = report.kappa
    assert kappa is not None
    assert (kappa.readout.method, kappa.readout.views) == ("fit", 2)
    fitted = kappa.summary["readout"]
    assert fitted.count == kappa.summary["clean"].count and fitted.min >= 0
    assert report.uncertainty.scores["kappa"].ood_auroc == kappa.by_readout["fit"].ood_auroc


def test_an_unknown_readout_names_the_option():
    with pytest.raises(EvalError, match="--kappa-readout must be one of center, mean, median, fit"):
        EvalSettings(train="demo", test="demo", kappa_readout="mode")


def test_the_fit_readout_needs_two_views():
    with pytest.raises(
        EvalError, match="--kappa-views must be at least 2 with --kappa-readout fit"
    ):
        EvalSettings(train="demo", test="demo", kappa_readout="fit", kappa_views=1)


def write_folder(root, splits: tuple[str, ...] = ()) -> str:
    """An image folder of two classes, with split subfolders when `splits` names them."""
    from PIL import Image

    for split_root in [root / s for s in splits] or [root]:
        for label, name in enumerate(("cat", "dog")):
            for i in range(3):
                pixels = np.full((12, 12, 3), 60 * label + 20 * i, np.uint8)
                (split_root / name).mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(split_root / name / f"{i}.png")
    return str(root)


def write_source(kind: str, root) -> tuple[str, str]:
    """(DATA of `kind`, the split auto picks for --test), written under `root`."""
    from tests.pipeline.sources.test_cifar import write_cifar10
    from tests.pipeline.sources.test_idx import write_mnist_like

    arrays = np.random.default_rng(0).integers(0, 256, (6, 12, 12), dtype=np.uint8)
    labels = np.array([0, 1, 2, 0, 1, 2])
    if kind == "folder":
        return write_folder(root), "train"
    if kind == "folder-with-splits":
        return write_folder(root, ("train", "test")), "test"
    if kind == "idx":
        write_mnist_like(root, gz=True, test_labels=(5, 3))
        return str(root), "test"
    if kind == "cifar":
        write_cifar10(root)
        return str(root), "test"
    if kind == "npz":
        np.savez(root / "set.npz", images=arrays, labels=labels)
        return str(root / "set.npz"), "train"
    if kind == "npz-with-splits":
        np.savez(root / "set.npz", x_train=arrays, y_train=labels, x_test=arrays, y_test=labels)
        return str(root / "set.npz"), "test"
    if kind == "beton":
        pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
        from visim.pipeline.convert.to_beton import WriteSettings, convert_source

        convert_source(open_source(write_folder(root / "folder")), root / "set.beton",
                       WriteSettings(workers=1))  # fmt: skip
        return str(root / "set.beton"), "train"
    assert kind == "demo"
    return "demo:40", "test"


@pytest.fixture(scope="module")
def simsiam_run(tmp_path_factory) -> RunDir:
    """No kappa to analyse: what these tests look at is how the data is read."""
    return write_run(tmp_path_factory.mktemp("simsiam-run"), method="simsiam")


@pytest.mark.parametrize(
    "kind",
    ["folder", "folder-with-splits", "idx", "cifar", "npz", "npz-with-splits", "beton", "demo"],
)
def test_every_source_kind_evaluates_with_the_default_splits(simsiam_run, tmp_path, kind):
    """--test defaults to the test split where the source has one, else all of it."""
    data, test_split = write_source(kind, tmp_path)
    options = {k: v for k, v in QUICK.items() if k not in ("train", "test", "workers")}
    # The .beton is read by worker processes too: the machine's default number of them.
    workers = None if kind == "beton" else 0
    settings = EvalSettings(train=data, test=data, probe_max_iter=5, workers=workers, **options)
    report = evaluate_run(simsiam_run.path, settings)
    assert report.data["test"].split == test_split
    assert report.data["test"].images == len(open_source(data, test_split))
    assert 0 <= report.results["pretrained"].knn.top1 <= 1
    # Without --workers, loading follows the machine: all cores but one on the CPU.
    expected_workers = default_loader_workers("cpu") if workers is None else workers
    assert report.settings["workers"] == expected_workers
    same = [w for w in report.warnings if "--test is the same images as --train" in w]
    assert len(same) == (test_split == "train")


def run_with_a_newer_checkpoint(path) -> tuple[RunDir, Path]:
    """An exported run, then a checkpoint written after the export (a resumed run)."""
    run_dir = write_run(path)
    state = {"model": build_model(tiny_config().model).state_dict()}
    checkpoint = save_checkpoint(run_dir.checkpoints, Position(epoch=1, batch=0, step=9), state)
    os.utime(run_dir.model, ns=(1, 1))  # the export is the older of the two
    return run_dir, checkpoint


def cut_short(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:500])


def test_damaged_newest_weights_are_passed_over_for_the_next_newest(tmp_path):
    run_dir, checkpoint = run_with_a_newer_checkpoint(tmp_path)
    assert open_run(tmp_path).weights == checkpoint
    cut_short(checkpoint)
    run = open_run(tmp_path)
    assert run.weights == run_dir.model
    (line,) = run.passed_over
    assert line.startswith(f"{checkpoint}: cannot be read")
    report = evaluate_run(tmp_path, EvalSettings(**QUICK))
    assert report.weights == str(run_dir.model)
    assert f"skipped weights {line}" in report.warnings


@pytest.mark.parametrize("damaged", ["checkpoint", "export"])
def test_damaged_weights_asked_for_are_a_one_line_error(tmp_path, damaged):
    run_dir, checkpoint = run_with_a_newer_checkpoint(tmp_path)
    weights = checkpoint if damaged == "checkpoint" else run_dir.model
    cut_short(weights)
    with pytest.raises(EvalError, match=f"^--checkpoint {weights}: cannot be read") as caught:
        open_run(tmp_path, weights)
    assert "\n" not in str(caught.value)


def test_no_usable_weights_in_the_run_is_a_one_line_error(tmp_path):
    run_dir, checkpoint = run_with_a_newer_checkpoint(tmp_path)
    cut_short(checkpoint)
    cut_short(run_dir.model)
    with pytest.raises(EvalError, match="no weights there can be used") as caught:
        open_run(tmp_path)
    message = str(caught.value)
    assert "\n" not in message and str(checkpoint) in message and str(run_dir.model) in message
