"""What a training benchmark's rows say: the effect of each setting, each backend's data
stall, and the project's GPU targets."""

from __future__ import annotations

from visim.bench.ratios import geometric_mean
from visim.bench.train.matrix import ModelAxes

# Image pairs per second on synthetic data, one H200, 224 px, bf16 (the project's targets).
GPU_TARGETS = {"resnet50": 2500.0, "resnet18": 7000.0}
TARGET_SIZE = 224
STALL_TARGET = 0.05  # with visim's own pipeline
COLOR_STAGE_TARGET = 0.05  # of a ResNet-50 step, GPU colour stage included
COLOR_STAGE_ARCH = "resnet50"

# What identifies a model setting in a row, besides the axes themselves.
_FIXED = ("size", "batch_size", "device")


def show_value(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _ok(rows: list[dict], synthetic: bool) -> list[dict]:
    return [r for r in rows if r["status"] == "ok" and (r["backend"] == "synthetic") == synthetic]


def factor_effects(rows: list[dict], axes: ModelAxes) -> list[str]:
    """For each axis value other than the first: images/s over the first value's, on synthetic
    data, across every pair of rows that differ in that axis alone."""
    measured = _ok(rows, synthetic=True)
    keys = [*axes.values(), *_FIXED]
    lines = []
    for axis, values in axes.values().items():
        others = [k for k in keys if k != axis]
        base_rows = {tuple(r[k] for k in others): r for r in measured if r[axis] == values[0]}
        for value in values[1:]:
            ratios = [
                r["images_per_s"] / base_rows[key]["images_per_s"]
                for r in measured
                if r[axis] == value and (key := tuple(r[k] for k in others)) in base_rows
            ]
            if not ratios:
                continue
            what = f"{axis} {show_value(value)} vs {show_value(values[0])}"
            if len(ratios) == 1:
                lines.append(f"{what}: x{ratios[0]:.2f} images/s")
            else:
                lines.append(
                    f"{what}: x{geometric_mean(ratios):.2f} images/s (geometric mean of "
                    f"{len(ratios)} pairs, x{min(ratios):.2f} to x{max(ratios):.2f})"
                )
    return lines


def _setting(row: dict) -> str:
    return (
        f"{row['method']} {row['arch']} {row['precision']}, channels_last "
        f"{show_value(row['channels_last'])}, compile {show_value(row['compile'])}"
    )


def stall_findings(rows: list[dict]) -> list[str]:
    return [
        f"{r['backend']}: data stall {r['data_stall']:.1%} at {_setting(r)} "
        f"({r['images_per_s']:,.0f} of {r['synthetic_images_per_s']:,.0f} images/s; the loop "
        f"waited for data {r['data_wait']:.1%} of the time)"
        for r in _ok(rows, synthetic=False)
        if r.get("data_stall") is not None
    ]


def color_stage_findings(rows: list[dict]) -> list[str]:
    """The GPU colour stage's time per step and its share of the fastest step of each arch."""
    timed = next((r for r in rows if r.get("color_stage_ms") is not None), None)
    if timed is None:
        return []
    how = "compiled" if timed["color_stage_compiled"] else "eager: compiling FAILED"
    lines = [
        f"GPU colour stage: {timed['color_stage_ms']:.2f} ms per step for both views of "
        f"{timed['batch_size']} at {timed['size']} px ({how}; eager "
        f"{timed['color_stage_eager_ms']:.2f} ms)"
    ]
    shares: dict[str, float] = {}
    for r in _ok(rows, synthetic=True):
        if r.get("color_share") is not None:
            shares[r["arch"]] = max(shares.get(r["arch"], 0.0), r["color_share"])
    for arch, share in shares.items():
        lines.append(f"colour stage share of the fastest {arch} step: {share:.1%}")
    if COLOR_STAGE_ARCH in shares and timed["device"] == "cuda":
        share = shares[COLOR_STAGE_ARCH]
        verdict = "met" if share < COLOR_STAGE_TARGET else "NOT met"
        lines.append(
            f"target colour stage < {COLOR_STAGE_TARGET:.0%} of a {COLOR_STAGE_ARCH} step: "
            f"{verdict} ({share:.1%})"
        )
    return lines


def target_findings(rows: list[dict]) -> list[str]:
    """The GPU targets, judged on CUDA rows at the target size; nothing for other rows."""
    on_target = [r for r in rows if r["device"] == "cuda" and r["size"] == TARGET_SIZE]
    lines = []
    for arch, target in GPU_TARGETS.items():
        rates = [r["images_per_s"] for r in _ok(on_target, synthetic=True) if r["arch"] == arch]
        if rates:
            verdict = "met" if max(rates) >= target else "NOT met"
            lines.append(
                f"target {arch} >= {target:,.0f} image pairs/s on synthetic data: {verdict} "
                f"(best {max(rates):,.0f})"
            )
    stalls: dict[str, float] = {}
    for r in _ok(on_target, synthetic=False):
        if r.get("data_stall") is not None:
            stalls[r["backend"]] = min(stalls.get(r["backend"], 1.0), r["data_stall"])
    for backend, stall in stalls.items():
        verdict = "met" if stall < STALL_TARGET else "NOT met"
        lines.append(
            f"target data stall < {STALL_TARGET:.0%} with {backend}: {verdict} (lowest {stall:.1%})"
        )
    return lines
