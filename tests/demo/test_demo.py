"""The demo's steps at a tiny size: convert, pre-train, evaluate, and pick up where it stopped."""

import dataclasses
import json
from contextlib import nullcontext

import pytest

from visim.demo import run as demo
from visim.demo.settings import DemoSettings, demo_train_config, resolve_backend
from visim.train.checkpoint import load_checkpoint
from visim.train.config import ConfigError
from visim.train.metrics import read_metrics
from visim.train.run_dir import RunDir


def tiny(tmp_path, **changes) -> DemoSettings:
    """40 demo images (10 test images), 16 px crops, batch 8: 5 steps an epoch."""
    settings = DemoSettings(
        out=tmp_path / "demo", images=40, epochs=1, size=16, batch_size=8, workers=0, quiet=True
    )
    return dataclasses.replace(settings, **changes)


class RecordingDisplay:
    def __init__(self) -> None:
        self.steps: list[str] = []
        self.notes: list[str] = []
        self.progress: list[tuple[str, int, int]] = []

    def step(self, number: int, total: int, title: str) -> None:
        self.steps.append(f"{number}/{total} {title}")

    def note(self, text: str) -> None:
        self.notes.append(text)

    def convert_progress(self):
        return nullcontext(lambda *update: self.progress.append(update))

    def said(self, text: str) -> bool:
        return any(text in note for note in self.notes)


def run(settings: DemoSettings) -> tuple[demo.DemoResult, RecordingDisplay]:
    display = RecordingDisplay()
    return demo.run_demo(settings, display), display


def test_torch_demo_runs_every_step_then_reuses_the_finished_run(tmp_path, fresh_accelerate):
    settings = tiny(tmp_path, backend="torch")
    result, display = run(settings)
    assert [step.split()[0] for step in display.steps] == ["1/3", "2/3", "3/3"]
    assert display.said("nothing to convert")
    assert not (settings.out / "data").exists()

    report = json.loads((result.eval_dir / "eval.json").read_text())
    assert result.eval_dir == settings.run_dir / "eval"
    assert report["method"] == "vi-simsiam" and report["arch"] == "resnet18"
    assert report["data"]["train"]["images"] == 40 and report["data"]["test"]["images"] == 10
    for variant in ("pretrained", "random_init"):
        for method in ("knn", "linear_probe"):
            assert set(report["results"][variant][method]) >= {"top1", "top5"}
    assert {"auroc_correct", "spearman_per_image"} <= set(report["kappa"]["vs_probe_correctness"])
    assert set(result.seconds) == {"data", "pretrain", "eval"}
    assert result.total_seconds == pytest.approx(sum(result.seconds.values()))

    exported = RunDir(settings.run_dir).model.stat().st_mtime_ns
    again, display = run(settings)
    assert display.said("reusing the finished run")
    assert RunDir(settings.run_dir).model.stat().st_mtime_ns == exported
    assert again.report.results == result.report.results
    assert again.report.feature_cache_hits == 4  # 2 weight variants x (train, test)


def test_an_interrupted_demo_resumes_from_its_checkpoint(tmp_path, fresh_accelerate, monkeypatch):
    settings = tiny(tmp_path, backend="torch")
    real_pretrain = demo.run_pretrain

    def pretrain_logging_every_step(config, run_dir, *, resume, max_steps=0):
        runtime = dataclasses.replace(config.runtime, log_every=1, max_steps=max_steps)
        return real_pretrain(dataclasses.replace(config, runtime=runtime), run_dir, resume=resume)

    def stopped_after_two_steps(config, run_dir, *, resume):
        pretrain_logging_every_step(config, run_dir, resume=resume, max_steps=2)
        # As if Ctrl-C had stopped it there: a checkpoint, but no exported weights.
        run_dir.model.unlink()
        run_dir.backbone.unlink()
        return 130

    monkeypatch.setattr(demo, "run_pretrain", stopped_after_two_steps)
    with pytest.raises(demo.DemoStopped) as stopped:
        run(settings)
    assert stopped.value.code == 130
    run_dir = RunDir(settings.run_dir)
    assert load_checkpoint(run_dir.latest_checkpoint())[0].step == 2

    monkeypatch.setattr(demo, "run_pretrain", pretrain_logging_every_step)
    _, display = run(settings)
    assert display.said("resuming")
    assert [r["step"] for r in read_metrics(run_dir.metrics)] == [1, 2, 3, 4, 5]
    assert run_dir.model.exists()


def test_other_settings_for_an_existing_run_need_force(tmp_path, fresh_accelerate):
    run(tiny(tmp_path, backend="torch"))
    with pytest.raises(ConfigError, match="made with --size 16, not 24; pass --force"):
        run(tiny(tmp_path, backend="torch", size=24))
    with pytest.raises(ConfigError, match="made with DATA 'demo:40:0', not 'demo:80:0'"):
        run(tiny(tmp_path, backend="torch", images=80))
    _, display = run(tiny(tmp_path, backend="torch", size=24, force=True))
    assert not display.said("reusing")
    assert RunDir(tiny(tmp_path).run_dir).load_config().data.size == 24


@pytest.mark.ffcv
def test_ffcv_demo_converts_once_and_reuses_the_beton(tmp_path, fresh_accelerate):
    pytest.importorskip("ffcv", reason="the ffcv extra is not installed")
    settings = tiny(tmp_path, backend="ffcv")
    _, display = run(settings)
    assert display.said("wrote 40 images") and display.progress
    assert json.loads(settings.beton.with_suffix(".json").read_text())["num_images"] == 40
    written = settings.beton.stat().st_mtime_ns

    _, display = run(settings)
    assert display.said(f"reusing {settings.beton}")
    assert settings.beton.stat().st_mtime_ns == written


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"images": 39}, "--images must be at least 40, got 39"),
        ({"epochs": 0}, "--epochs must be at least 1"),
        ({"size": 4}, "--size must be at least 8"),
        ({"batch_size": 64}, "--batch-size must be in [2, --images], got 64"),
        ({"backend": "synthetic"}, "--backend must be one of auto, ffcv, torch"),
        ({"workers": -1}, "--workers must be at least 0"),
    ],
)
def test_bad_settings_name_the_option(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=f"^{message.replace('[', '.').replace(']', '.')}"):
        tiny(tmp_path, **changes)


def test_auto_backend_is_ffcv_where_it_imports_else_torch(monkeypatch):
    from visim.demo import settings as demo_settings

    monkeypatch.setattr(demo_settings, "missing_extra", lambda backend: "pip install it")
    assert resolve_backend("auto") == "torch"
    with pytest.raises(ConfigError, match="--backend ffcv: not installed here; run: pip"):
        resolve_backend("ffcv")
    monkeypatch.setattr(demo_settings, "missing_extra", lambda backend: None)
    assert resolve_backend("auto") == "ffcv"


def test_the_ffcv_run_reads_the_beton_by_absolute_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    images = DemoSettings().images
    config = demo_train_config(DemoSettings(), "ffcv")
    assert config.data.source == str(tmp_path / "visim-demo" / "data" / f"demo-{images}.beton")
    assert demo_train_config(DemoSettings(), "torch").data.source == f"demo:{images}:0"
