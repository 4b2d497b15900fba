"""How an epoch's cost grows: factors per doubling of the data set and of the batch."""

from __future__ import annotations

from visim.bench.ratios import per_doubling

# (row field, what it is) of the costs whose growth is reported.
COSTS = (
    ("epoch_s", "epoch time"),
    ("peak_rss_mib", "peak RSS"),
    ("peak_device_mib", "peak device memory"),
)


def _measured(rows: list[dict]) -> dict[tuple[int, int], dict]:
    return {(r["images"], r["batch_size"]): r for r in rows if r["status"] == "ok"}


def _growth(a: dict, b: dict, x: str, cost: str) -> float | None:
    if a.get(cost) is None or b.get(cost) is None:
        return None
    return per_doubling(a[x], a[cost], b[x], b[cost])


def add_growth_columns(rows: list[dict], dataset_sizes: tuple, batch_sizes: tuple) -> None:
    """On each row, its epoch time's growth per doubling from the next smaller data set (same
    batch) and from the next smaller batch (same data set)."""
    measured = _measured(rows)
    for (images, batch), row in measured.items():
        smaller_data = [n for n in dataset_sizes if n < images and (n, batch) in measured]
        smaller_batch = [b for b in batch_sizes if b < batch and (images, b) in measured]
        if smaller_data:
            previous = measured[(max(smaller_data), batch)]
            row["epoch_growth_data"] = _growth(previous, row, "images", "epoch_s")
        if smaller_batch:
            previous = measured[(images, max(smaller_batch))]
            row["epoch_growth_batch"] = _growth(previous, row, "batch_size", "epoch_s")


def growth_findings(rows: list[dict], dataset_sizes: tuple, batch_sizes: tuple) -> list[str]:
    """From the smallest to the largest measured size along each axis, the other held fixed."""
    measured = _measured(rows)
    lines = []
    for cost, what in COSTS:
        for batch in batch_sizes:
            ends = [n for n in dataset_sizes if (n, batch) in measured]
            if len(ends) >= 2:
                a, b = measured[(ends[0], batch)], measured[(ends[-1], batch)]
                growth = _growth(a, b, "images", cost)
                if growth is not None:
                    lines.append(
                        f"{what} per doubling of the data set, batch {batch}: x{growth:.2f} "
                        f"({ends[0]} -> {ends[-1]} images)"
                    )
        for images in dataset_sizes:
            ends = [b for b in batch_sizes if (images, b) in measured]
            if len(ends) >= 2:
                a, b = measured[(images, ends[0])], measured[(images, ends[-1])]
                growth = _growth(a, b, "batch_size", cost)
                if growth is not None:
                    lines.append(
                        f"{what} per doubling of the batch, {images} images: x{growth:.2f} "
                        f"(batch {ends[0]} -> {ends[-1]})"
                    )
    return lines
