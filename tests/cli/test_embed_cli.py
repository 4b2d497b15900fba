"""`visim embed` on runs written with the trainer's own functions (config + exported weights)."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from visim.cli.app import app
from visim.evaluation.feature_cache import cache_file
from visim.evaluation.features import source_features
from visim.evaluation.run_loading import open_run
from visim.evaluation.uncertainty_scores import FeatureGaussian, knn_density
from visim.models.siamese import build_model
from visim.pipeline.sources.factory import open_source
from visim.train.config import config_from_dict
from visim.train.export import export_weights
from visim.train.run_dir import RunDir

runner = CliRunner()
QUICK = ["--workers", "0", "--batch-size", "4", "--device", "cpu"]
TEST_SET = ["--data", "demo:40", "--split", "test"]  # 10 images


def write_run(path, method: str, data: dict | None = None):
    """A finished run as the trainer leaves it: its config.toml and model.safetensors."""
    config = config_from_dict(
        {
            "data": data or {"source": "demo:40", "recipe": "cifar", "size": 16, "workers": 0},
            "model": {
                "method": method,
                "arch": "resnet18",
                "cifar_stem": True,
                "proj_dim": 32,
                "pred_hidden_dim": 8,
            },
        }
    )
    run_dir = RunDir(path)
    run_dir.write_config(config)
    export_weights(build_model(config.model), run_dir)
    return path


@pytest.fixture(scope="module")
def vi_run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("vi") / "run", "vi-simsiam")


@pytest.fixture(scope="module")
def simsiam_run(tmp_path_factory):
    return write_run(tmp_path_factory.mktemp("simsiam") / "run", "simsiam")


def embed(run_dir, out, *options):
    return runner.invoke(
        app, ["embed", str(run_dir), "--out", str(out), *QUICK, *options], terminal_width=200
    )


def test_rows_follow_the_source_with_kappa_and_its_rank(vi_run, tmp_path):
    out = tmp_path / "test.parquet"
    result = embed(vi_run, out, *TEST_SET)
    assert result.exit_code == 0, result.output
    source = open_source("demo:40", "test")
    table = pq.read_table(out).to_pydict()
    assert table["index"] == list(range(len(source)))
    assert table["item"] == [source.describe(i) for i in range(len(source))]
    assert table["label"] == source.labels.tolist()
    assert table["class"] == [source.classes[label] for label in source.labels]
    assert all(len(vector) == 512 for vector in table["embedding"])  # resnet18 features
    kappa = np.array(table["kappa"])
    assert np.all(kappa > 0)
    assert np.array_equal(np.array(table["kappa_rank"]), np.argsort(np.argsort(kappa)))
    assert "projection" not in table
    metadata = json.loads(pq.read_schema(out).metadata[b"visim"])
    assert metadata["method"] == "vi-simsiam"
    assert metadata["images"] == metadata["readable"] == 10


def test_kappa_and_embeddings_equal_what_eval_computes(vi_run, tmp_path):
    evaluation = runner.invoke(
        app,
        ["eval", str(vi_run), "--train", "demo:40", "--test", "demo:40", *QUICK]
        + ["--augmented-images", "0", "--no-plots", "--grid-images", "10", "--kappa-bins", "2"],
    )
    assert evaluation.exit_code == 0, evaluation.output
    out = tmp_path / "test.parquet"
    result = embed(vi_run, out, *TEST_SET)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pydict()

    # eval.json lists every test image here (10 images, grids of 10) with its kappa.
    report = json.loads((vi_run / "eval" / "eval.json").read_text())
    from_eval = {image["index"]: image["kappa"] for image in report["kappa"]["extremes"]["highest"]}
    assert sorted(from_eval) == table["index"]
    assert [np.float32(from_eval[i]) for i in table["index"]] == [
        np.float32(k) for k in table["kappa"]
    ]
    assert report["kappa"]["summary"]["clean"]["median"] == pytest.approx(
        float(np.median(np.array(table["kappa"], dtype=np.float32)))
    )
    # eval's feature cache holds the same features and kappa for every test image.
    test = open_source("demo:40", "test")
    cache = cache_file(vi_run / "eval" / "cache", "pretrained", test.location, test.split)
    cached = torch.load(cache, weights_only=True)["payload"]
    order = cached["indices"].numpy()
    embeddings = torch.tensor(table["embedding"], dtype=torch.float32)
    torch.testing.assert_close(embeddings[order], cached["features"])
    torch.testing.assert_close(torch.tensor(table["kappa"])[order], cached["kappa"])


def test_summary_names_both_ends_and_pandas_sorts_by_kappa(vi_run, tmp_path):
    out = tmp_path / "test.parquet"
    result = embed(vi_run, out, *TEST_SET, "--summary-images", "2")
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out).sort_values("kappa")  # docs/evaluation.md's example
    lowest, highest = frame.iloc[0], frame.iloc[-1]
    assert lowest["kappa_rank"] == 0 and highest["kappa_rank"] == len(frame) - 1
    assert "Lowest kappa" in result.output and "Highest kappa" in result.output
    for image in (lowest, highest):
        assert image["item"] in result.output
    assert frame.iloc[1]["item"] in result.output  # second of each end, with --summary-images 2
    assert frame.iloc[2]["item"] not in result.output
    assert f"median {float(np.median(frame['kappa'])):.4g}" in result.output


def test_projections_are_the_projector_of_the_embeddings(vi_run, tmp_path):
    out = tmp_path / "test.parquet"
    result = embed(vi_run, out, *TEST_SET, "--projections")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pydict()
    model = open_run(vi_run).pretrained_model().eval()
    with torch.no_grad():
        expected = model.projector(torch.tensor(table["embedding"], dtype=torch.float32))
    torch.testing.assert_close(torch.tensor(table["projection"], dtype=torch.float32), expected)
    assert "projection (32 floats)" in result.output


def test_without_workers_a_run_trained_with_the_machines_default_reads_with_it(tmp_path):
    # The run's config leaves data.workers unset (None): the machine's default then too.
    run_dir = write_run(tmp_path / "run", "simsiam", {"source": "demo:40", "size": 16})
    out = tmp_path / "test.parquet"
    options = ["--batch-size", "4", "--device", "cpu", *TEST_SET]
    result = runner.invoke(app, ["embed", str(run_dir), "--out", str(out), *options])
    assert result.exit_code == 0, result.output
    assert pq.read_table(out).num_rows == 10


def test_a_simsiam_run_gets_embeddings_without_kappa(simsiam_run, tmp_path):
    out = tmp_path / "test.parquet"
    result = embed(simsiam_run, out, *TEST_SET)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out)
    assert table.column_names == [
        *("index", "item", "label", "class", "knn_mean_cosine", "knn_distance_50"),
        *("inverse_norm", "mahalanobis", "embedding"),
    ]
    assert table.num_rows == 10
    assert "no kappa" in result.output


def test_density_columns_measure_against_the_runs_training_data(vi_run, tmp_path):
    out = tmp_path / "test.parquet"
    result = embed(vi_run, out, *TEST_SET)
    assert result.exit_code == 0, result.output
    assert "density columns against demo:40:0 [train]" in result.output
    table = pq.read_table(out).to_pydict()
    features = torch.tensor(table["embedding"], dtype=torch.float32)
    bank = features_of(vi_run, "demo:40", "train")
    expected = knn_density(bank, features)
    # Written as quantities: the mean cosine itself (high = like the training images).
    np.testing.assert_allclose(table["knn_mean_cosine"], -expected["knn_mean_cosine"], rtol=1e-5)
    np.testing.assert_allclose(table["knn_distance_50"], expected["knn_distance_50"], rtol=1e-5)
    np.testing.assert_allclose(table["inverse_norm"], 1 / features.norm(dim=1), rtol=1e-5)
    gaussian = FeatureGaussian.fit(bank)
    np.testing.assert_allclose(table["mahalanobis"], gaussian.mahalanobis(features), rtol=1e-4)
    metadata = json.loads(pq.read_schema(out).metadata[b"visim"])
    assert metadata["reference"] == {"location": "demo:40:0", "split": "train", "images": 40}
    assert "unlike" in metadata["knn_mean_cosine"]


def test_embedding_the_reference_itself_leaves_each_image_out(vi_run, tmp_path):
    out = tmp_path / "train.parquet"
    result = embed(vi_run, out, "--data", "demo:40", "--split", "train")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pydict()
    features = torch.tensor(table["embedding"], dtype=torch.float32)
    left_out = knn_density(features, features, leave_one_out=True)
    np.testing.assert_allclose(table["knn_mean_cosine"], -left_out["knn_mean_cosine"], rtol=1e-5)


def test_another_reference_or_none(vi_run, tmp_path):
    out = tmp_path / "named.parquet"
    result = embed(vi_run, out, *TEST_SET, "--reference", "demo:40:5", "--reference-split", "test")
    assert result.exit_code == 0, result.output
    table = pq.read_table(out).to_pydict()
    bank = features_of(vi_run, "demo:40:5", "test")
    expected = knn_density(bank, torch.tensor(table["embedding"], dtype=torch.float32))
    np.testing.assert_allclose(table["knn_distance_50"], expected["knn_distance_50"], rtol=1e-5)

    none = tmp_path / "none.parquet"
    result = embed(vi_run, none, *TEST_SET, "--reference", "none")
    assert result.exit_code == 0, result.output
    columns = pq.read_table(none).column_names
    assert "inverse_norm" in columns
    assert "knn_mean_cosine" not in columns and "mahalanobis" not in columns


def test_a_training_set_that_is_gone_asks_for_a_reference(tmp_path):
    gone = tmp_path / "gone.npz"
    run_dir = write_run(tmp_path / "run", "simsiam", {"source": str(gone), "size": 16})
    result = embed(run_dir, tmp_path / "x.parquet", *TEST_SET)
    assert result.exit_code == 2
    assert "--reference" in result.stderr and "--reference none" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_kappa_without_spread_is_warned_about(vi_run, tmp_path):
    # An untrained run's support bank is empty: every image gets kappa's floor.
    result = embed(vi_run, tmp_path / "x.parquet", *TEST_SET)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "no per-image information" in result.output


def features_of(run_dir, location: str, split: str) -> torch.Tensor:
    """The run's backbone features of a source, as eval and embed compute them."""
    run = open_run(run_dir)
    found = source_features(
        run, run.pretrained_model(), open_source(location, split),
        batch_size=8, device=torch.device("cpu"), workers=0, with_kappa=False,
    )  # fmt: skip
    return found["features"]


def test_a_reference_of_one_image_is_refused_by_name(vi_run, tmp_path):
    # One image has no covariance for the Mahalanobis column: a one-line error, no file.
    folder = tmp_path / "one"
    (folder / "cat").mkdir(parents=True)
    Image.fromarray(np.full((20, 20, 3), 90, np.uint8)).save(folder / "cat" / "a.png")
    out = tmp_path / "one.parquet"
    result = embed(vi_run, out, *TEST_SET, "--reference", str(folder))
    assert result.exit_code == 2, result.output
    assert (
        f"--reference {folder}" in result.output and "2 or more reference images" in result.output
    )
    assert not out.exists()


def test_unreadable_images_keep_their_row_with_nulls(vi_run, tmp_path):
    folder = tmp_path / "images"
    for name, label in (("a.png", "cat"), ("b.png", "cat"), ("c.png", "dog")):
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((20, 20, 3), 40 * len(name), np.uint8)).save(folder / label / name)
    (folder / "dog" / "broken.jpg").write_text("not an image\n")
    out = tmp_path / "folder.parquet"
    result = embed(vi_run, out, "--data", str(folder))
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    broken = frame[frame["item"].str.endswith("broken.jpg")]
    assert len(frame) == 4 and len(broken) == 1
    assert broken["kappa"].isna().all() and broken["kappa_rank"].isna().all()
    assert broken["embedding"].isna().all() and broken["knn_mean_cosine"].isna().all()
    readable = frame.drop(broken.index)
    assert sorted(readable["kappa_rank"].astype(int)) == [0, 1, 2]
    assert "1 unreadable images" in result.output and "broken.jpg" in result.output


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--data", "/no/such/place"], "--data /no/such/place: source not found"),
        (["--data", "demo:40", "--split", "valid"], "--split must be one of train, test, auto"),
        (["--data", "demo:40", "--batch-size", "0"], "--batch-size must be at least 1"),
    ],
)
def test_a_bad_source_or_option_is_one_line(vi_run, tmp_path, options, message):
    out = tmp_path / "x.parquet"
    result = runner.invoke(app, ["embed", str(vi_run), "--out", str(out), *options])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_bad_run_or_output_is_one_line(vi_run, tmp_path):
    out = tmp_path / "x.parquet"
    not_a_run = runner.invoke(app, ["embed", str(tmp_path), "--data", "demo:40", "--out", str(out)])
    assert not_a_run.exit_code == 2
    assert "no config.toml" in not_a_run.stderr
    assert len(not_a_run.stderr.strip().splitlines()) == 1

    out.write_text("keep me")
    exists = runner.invoke(app, ["embed", str(vi_run), "--data", "demo:40", "--out", str(out)])
    assert exists.exit_code == 2
    assert "already exists; pass --force" in exists.stderr
    assert out.read_text() == "keep me"
    directory = runner.invoke(app, ["embed", str(vi_run), "--data", "demo:40", "-o", str(tmp_path)])
    assert directory.exit_code == 2
    assert "is a directory" in directory.stderr


def test_missing_pyarrow_names_the_extra_before_any_work(vi_run, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)  # import now fails
    out = tmp_path / "x.parquet"
    result = embed(vi_run, out, *TEST_SET)
    assert result.exit_code == 2
    assert "pip install 'visim[parquet]'" in result.stderr
    assert not out.exists()


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def test_an_interrupted_embed_leaves_no_partial_file(vi_run, tmp_path, monkeypatch):
    out = tmp_path / "x.parquet"
    out.write_bytes(b"the previous table")

    def write_half_then_stop(table, where, **options):
        with open(where, "wb") as handle:
            handle.write(b"PAR1 half a table")
        raise KeyboardInterrupt

    monkeypatch.setattr(pq, "write_table", write_half_then_stop)
    while_writing = embed(vi_run, out, *TEST_SET, "--force")
    assert while_writing.exit_code == 130
    assert f"interrupted; nothing written to {out}" in while_writing.stderr
    assert out.read_bytes() == b"the previous table"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.parquet"]

    monkeypatch.setattr("visim.evaluation.embed.source_features", _interrupt)
    fresh = tmp_path / "fresh.parquet"
    while_embedding = embed(vi_run, fresh, *TEST_SET)
    assert while_embedding.exit_code == 130
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.parquet"]


def test_help_lists_embed_without_importing_torch():
    command = "import sys, visim.cli.embed; print('torch' in sys.modules)"
    imported = subprocess.run(
        [sys.executable, "-c", command], capture_output=True, text=True, check=True
    )
    assert imported.stdout.strip() == "False"
    listing = runner.invoke(app, ["--help"])
    assert "embed" in listing.output
    options = runner.invoke(app, ["embed", "--help"], terminal_width=200)
    for option in ("--data", "--out", "--projections", "--batch-size", "--workers", "--device"):
        assert option in options.output
