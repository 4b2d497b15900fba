"""How fast `visim check` (and the check before pretrain and eval) verifies a .beton: the
per-chunk SHA-256 of beton_checksums over a file of random bytes, read from the page cache
(the case right after `visim convert` or a previous read) three times; the median is kept.

    python benchmarks/throughput/check_speed.py [--gib 1]

writes check_speed.json and .md beside this file. A file read from a disk for the first time
is also bounded by the disk's read speed, which this does not measure.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from visim.core.atomic_write import write_text_atomically
from visim.pipeline.convert.beton_checksums import AUTO_VERIFY_BYTES, CHUNK_BYTES, chunk_digests
from visim.train.environment import environment_report

RESULTS = Path(__file__).with_name("check_speed.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gib", type=float, default=1.0, help="size of the file checked")
    args = parser.parse_args()
    size = int(args.gib * 2**30)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "random.beton"
        with open(path, "wb") as handle:
            for _ in range(0, size, CHUNK_BYTES):
                handle.write(os.urandom(CHUNK_BYTES))
        chunk_digests(path, CHUNK_BYTES)  # into the page cache
        seconds = []
        for _ in range(3):
            started = time.perf_counter()
            chunk_digests(path, CHUNK_BYTES)
            seconds.append(time.perf_counter() - started)
        size = path.stat().st_size
    median = statistics.median(seconds)
    env = environment_report()
    result = {
        "bytes": size,
        "seconds": seconds,
        "gb_per_s": size / median / 1e9,
        "auto_verify_seconds": AUTO_VERIFY_BYTES / (size / median),
        "cpu": env.get("cpu_model", "not recorded"),
        "commit": env["git_commit"],
    }
    write_text_atomically(RESULTS, json.dumps(result, indent=2) + "\n")
    text = (
        "# How fast a .beton is verified\n\n"
        f"SHA-256 of every {CHUNK_BYTES // 2**20} MiB chunk of a {size / 2**30:.1f} GiB file "
        f"in the page cache, one thread: **{result['gb_per_s']:.2f} GB/s** (median of 3: "
        f"{', '.join(f'{s:.2f}' for s in seconds)} s), so the "
        f"{AUTO_VERIFY_BYTES / 2**30:.0f} GiB that pretrain and eval verify before use take "
        f"{result['auto_verify_seconds']:.1f} s. Machine: {result['cpu']}; visim commit "
        f"{result['commit']}. Repeat: "
        f"`python benchmarks/throughput/check_speed.py --gib {args.gib:g}`.\n"
    )
    write_text_atomically(RESULTS.with_suffix(".md"), text)
    print(text)


if __name__ == "__main__":
    main()
