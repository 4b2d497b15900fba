import os

import torch

from visim.evaluation.feature_cache import cache_file, cached, data_identity, file_digest


def test_cache_returns_stored_payload_until_the_fingerprint_changes(tmp_path):
    path = tmp_path / "cache" / "x.pt"
    calls = []

    def compute():
        calls.append(1)
        return {"features": torch.full((2, 3), float(len(calls)))}

    first, hit = cached(path, {"checkpoint": "aaa"}, compute)
    assert not hit and path.exists()
    again, hit = cached(path, {"checkpoint": "aaa"}, compute)
    assert hit and torch.equal(again["features"], first["features"])
    changed, hit = cached(path, {"checkpoint": "bbb"}, compute)
    assert not hit and changed["features"][0, 0] == 2.0
    assert len(calls) == 2


def test_a_corrupt_cache_file_is_recomputed(tmp_path):
    path = tmp_path / "x.pt"
    path.write_bytes(b"not a torch file")
    payload, hit = cached(path, {}, lambda: {"v": torch.ones(1)})
    assert not hit and payload["v"].item() == 1.0


def test_digest_follows_content_and_identity_follows_modification(tmp_path):
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    a.write_bytes(b"weights")
    b.write_bytes(b"weights")
    assert file_digest(a) == file_digest(b)
    b.write_bytes(b"other weights")
    assert file_digest(a) != file_digest(b)
    before = data_identity(str(a))
    later = a.stat().st_mtime_ns + 10**9  # a later write, whatever the clock resolution
    os.utime(a, ns=(later, later))
    assert data_identity(str(a)) != before
    assert data_identity("demo:64") == {"location": "demo:64"}


def test_cache_files_differ_by_variant_data_and_split(tmp_path):
    names = {
        cache_file(tmp_path, variant, location, split).name
        for variant in ("pretrained", "random")
        for location in ("demo", str(tmp_path / "cifar"))
        for split in ("train", "test")
    }
    assert len(names) == 8
