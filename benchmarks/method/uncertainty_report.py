"""The uncertainty benchmark's markdown, rebuilt from its results file (uncertainty_benchmark.py).

Per split, the means over the sets per budget and configuration; each VI-SimSiam
configuration's top-1 against SimSiam's, seed by seed (gap_table); then two tables over the
same (set, budget, configuration) groups, every number the mean and [min-max] over the group's
seeds: accuracy and kappa's spread; then one line per uncertainty score with its URL metrics.
Any number a row lacks shows as "-".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable

from uncertainty_data import SETS
from uncertainty_runs import METHOD_OPTIONS, RETIRED

METRICS = ("r_auroc", "probe_auroc", "ood_auroc", "ood_fpr95", "cropped_higher", "blurred_higher")
SOURCE_ORDER = ("learned", "label-free", "supervised")
VI_DEFAULTS = ("vi_loss", "kappa_param", "kappa_source", "kappa_support", "kappa_detach")
SPLIT_TITLES = {
    "val": "Validation parts (screening: defaults are chosen here)",
    "test": "Test subsets (final report)",
}

Group = tuple[str, str, int, str]  # split, set, epochs, configuration


def spread(values: list[float | None], scale: float = 1.0, digits: int = 3) -> str:
    """'mean [min-max]' of the values present, times `scale`; '-' when none is."""
    present = [scale * v for v in values if v is not None and not math.isnan(v)]
    if not present:
        return "-"
    mean = sum(present) / len(present)
    if len(present) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{min(present):.{digits}f}-{max(present):.{digits}f}]"


def groups(rows: dict[str, dict]) -> dict[Group, list[dict]]:
    """Rows by (split, set, epochs, configuration), sets in SETS order, then by budget, with
    configurations in METHOD_OPTIONS' order (the benchmark's, then the screened ones), retired
    ones after them in the order they first ran."""
    grouped: dict[Group, list[dict]] = {}
    for row in rows.values():
        s = row["settings"]
        key = (s["split"], s["set"], s["epochs"], s["configuration"])
        grouped.setdefault(key, []).append(row)
    first_seen = list(dict.fromkeys([*METHOD_OPTIONS, *(key[3] for key in grouped)]))

    def order(key: Group) -> tuple:
        known = SETS.index(key[1]) if key[1] in SETS else len(SETS)
        return (key[0], known, key[1], key[2], first_seen.index(key[3]))

    return {key: grouped[key] for key in sorted(grouped, key=order)}


def accuracy_table(grouped: dict[Group, list[dict]]) -> list[str]:
    lines = [
        "| set | epochs | configuration | seeds | kNN top-1 (%) | probe top-1 (%) | R@1 (%) | "
        "kappa 5-95 % range / median | kappa informative | pretrain s | eval s |",
        "|---|---:|---|---:|---|---|---|---|---:|---:|---:|",
    ]
    for (_, data_set, epochs, configuration), rows in grouped.items():

        def get(pick: Callable[[dict], float | None], rows: list[dict] = rows) -> list:
            return [pick(row) for row in rows]

        spreads = [row.get("kappa_spread") for row in rows]
        informative = [s["informative"] for s in spreads if s and "informative" in s]
        lines.append(
            f"| {data_set} | {epochs} | {configuration} | {len(rows)} | "
            f"{spread(get(lambda r: r.get('knn_top1')), 100, 1)} | "
            f"{spread(get(lambda r: r.get('probe_top1')), 100, 1)} | "
            f"{spread(get(lambda r: (r.get('uncertainty') or {}).get('r_at_1')), 100, 1)} | "
            f"{spread([s.get('relative_range') if s else None for s in spreads], 1, 2)} | "
            f"{f'{sum(informative)}/{len(informative)}' if informative else '-'} | "
            f"{spread(get(lambda r: r['seconds']['pretrain']), 1, 0)} | "
            f"{spread(get(lambda r: r['seconds']['eval']), 1, 0)} |"
        )
    return lines


def score_sets(row: dict) -> dict[str, dict]:
    """The row's scores by the label the table gives them: its own, then the --compare
    run's as '<method> run: <name>'."""
    uncertainty = row.get("uncertainty") or {}
    labelled = dict(uncertainty.get("scores") or {})
    compare = uncertainty.get("compare") or {}
    for name, metrics in (compare.get("scores") or {}).items():
        labelled[f"{compare.get('method', 'compared')} run: {name}"] = metrics
    return labelled


def score_table(grouped: dict[Group, list[dict]]) -> list[str]:
    lines = [
        "| set | epochs | configuration | score | source | R-AUROC | probe AUROC | OOD AUROC | "
        "FPR95 | cropped higher | blurred higher |",
        "|---|---:|---|---|---|---|---|---|---|---|---|",
    ]
    for (_, data_set, epochs, configuration), rows in grouped.items():
        per_row = [score_sets(row) for row in rows]
        labels = list(dict.fromkeys(label for scores in per_row for label in scores))
        sources = {
            label: next(s[label].get("source", "-") for s in per_row if label in s)
            for label in labels
        }
        labels.sort(key=lambda label: (": " in label, _source_rank(sources[label])))
        for label in labels:
            cells = [
                spread([(s.get(label) or {}).get(metric) for s in per_row]) for metric in METRICS
            ]
            lines.append(
                f"| {data_set} | {epochs} | {configuration} | {label} | {sources[label]} | "
                + " | ".join(cells)
                + " |"
            )
    return lines


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else None


def _mean_over_sets(values: list[float | None]) -> float | None:
    """None unless every set has a value: a mean over some of the sets would not compare."""
    return None if None in values else _mean(values)


def _cell(value: float | None, scale: float, digits: int) -> str:
    return "-" if value is None else f"{scale * value:.{digits}f}"


# The columns of the means over sets: (title, what a row gives, scale, digits).
MEAN_COLUMNS: tuple[tuple[str, Callable[[dict], float | None], float, int], ...] = (
    ("kNN top-1 (%)", lambda r: r.get("knn_top1"), 100, 1),
    ("probe top-1 (%)", lambda r: r.get("probe_top1"), 100, 1),
    *(
        (f"{label} {title}", lambda r, n=name, m=metric: (score_sets(r).get(n) or {}).get(m), 1, 3)
        for label, name in (
            ("kappa", "kappa"),
            ("kNN-cosine", "knn_mean_cosine"),
            ("Mahalanobis", "mahalanobis"),
        )
        for title, metric in (
            ("R-AUROC", "r_auroc"),
            ("probe AUROC", "probe_auroc"),
            ("OOD AUROC", "ood_auroc"),
            ("cropped higher", "cropped_higher"),
        )
    ),
)


def means_table(grouped: dict[Group, list[dict]]) -> list[str]:
    """Per (epochs, configuration): each set's mean over seeds, then the mean over the sets
    (how many in the sets column: a mean over fewer sets is not comparable)."""
    per_set: dict[tuple[int, str], list[list[dict]]] = {}
    for (_, _, epochs, configuration), rows in grouped.items():
        per_set.setdefault((epochs, configuration), []).append(rows)
    titles = " | ".join(title for title, *_ in MEAN_COLUMNS)
    lines = [
        f"| epochs | configuration | sets | {titles} |",
        "|---:|---|---:|" + "---:|" * len(MEAN_COLUMNS),
    ]
    for (epochs, configuration), sets in sorted(per_set.items(), key=lambda item: item[0][0]):
        cells = [
            _cell(
                _mean_over_sets([_mean([pick(row) for row in rows]) for rows in sets]),
                scale,
                digits,
            )
            for _, pick, scale, digits in MEAN_COLUMNS
        ]
        lines.append(f"| {epochs} | {configuration} | {len(sets)} | {' | '.join(cells)} |")
    return lines


# The features' bar: a VI-SimSiam configuration's top-1 may trail SimSiam's by this many
# points at most, per set and budget, on the mean over seeds.
FEATURE_TOLERANCE = 1.0


def paired_gap(rows: list[dict], simsiam: dict[int, dict], metric: str) -> str:
    """'mean +- standard error (n)' of the configuration's top-1 minus SimSiam's, in points,
    over the seeds both ran: pairing by seed takes out what the seed does to both alike (the
    data order, the initial weights), which the [min-max] of either alone still holds."""
    gaps = [
        100 * (row[metric] - simsiam[row["settings"]["seed"]][metric])
        for row in rows
        if row["settings"]["seed"] in simsiam
    ]
    if not gaps:
        return "-"
    mean = statistics.fmean(gaps)
    if len(gaps) == 1:
        return f"{mean:+.1f} (1)"
    error = statistics.stdev(gaps) / math.sqrt(len(gaps))
    return f"{mean:+.1f} ± {error:.1f} ({len(gaps)})"


def gap_table(grouped: dict[Group, list[dict]]) -> list[str]:
    """Per set, budget and VI-SimSiam configuration, the top-1 gaps to SimSiam (paired_gap)."""
    simsiam: dict[tuple[str, int], dict[int, dict]] = {}
    for (_, data_set, epochs, configuration), rows in grouped.items():
        if configuration == "simsiam":
            simsiam[(data_set, epochs)] = {row["settings"]["seed"]: row for row in rows}
    lines = [
        "| set | epochs | configuration | kNN top-1 gap (points) | probe top-1 gap (points) |",
        "|---|---:|---|---|---|",
    ]
    for (_, data_set, epochs, configuration), rows in grouped.items():
        paired = simsiam.get((data_set, epochs), {})
        if configuration == "simsiam" or not paired:
            continue
        cells = [paired_gap(rows, paired, metric) for metric in ("knn_top1", "probe_top1")]
        lines.append(f"| {data_set} | {epochs} | {configuration} | {' | '.join(cells)} |")
    return lines


def _source_rank(source: str) -> int:
    return SOURCE_ORDER.index(source) if source in SOURCE_ORDER else len(SOURCE_ORDER)


def placeholders(options: list[str]) -> str:
    """The options with the values that differ between rows (epochs, seed) named instead."""
    named = {"--epochs": "EPOCHS", "--seed": "SEED"}
    return " ".join(
        named.get(options[i - 1], option) if i else option for i, option in enumerate(options)
    )


def configuration_lines(rows: dict[str, dict]) -> list[str]:
    """Each configuration's method options and, for VI-SimSiam, the defaults it ran with for
    the options it does not give."""
    described: dict[str, str] = {}
    for row in rows.values():
        s = row["settings"]
        options = s["method_options"]
        text = f"`{' '.join(options)}`"
        if "vi-simsiam" in options:
            model = s.get("model_defaults", {})
            unset = [key for key in VI_DEFAULTS if "--" + key.replace("_", "-") not in options]
            text += " (visim's defaults then: "
            text += ", ".join(f"{key} {model.get(key)}" for key in unset) + ")"
        if s["configuration"] in RETIRED:
            # "-dirty": the working tree carried a patch, which the text names.
            commit = row.get("ran_on", {}).get("commit", "the one its rows name")
            commit = commit.removesuffix("-dirty")
            text += "; retired: " + RETIRED[s["configuration"]].format(commit=commit)
        described[s["configuration"]] = text
    return [f"- {name}: {text}" for name, text in described.items()]


def settings_lines(rows: dict[str, dict]) -> list[str]:
    """What every run shared, from the newest row."""
    s = list(rows.values())[-1]["settings"]
    sizes = s["sizes"]
    heads = ", ".join(f"{key} = {value}" for key, value in s["heads"].items())
    return [
        f"Each set: {sizes['train']} training images ({sizes['train'] - sizes['evaluation']} "
        f"in the validation variant), {sizes['evaluation']} evaluation images (digits: see "
        "benchmarks/method/uncertainty_data.py). Pre-training: "
        f"`{placeholders(s['pretrain'])}` with heads {heads} (a `--config` TOML [model] "
        "table) and the configuration's options:",
        "",
        *configuration_lines(rows),
        "",
        f"Evaluation: `{' '.join(s['eval'])}`; OOD data: the partner set's evaluation part of "
        "the same variant (demo for fashion-mnist, digits and textures; fashion-mnist for "
        "demo).",
        "",
        "Scores are uncertainties (higher = less certain). R-AUROC: against whether an image's "
        "nearest other test image has its class (R@1); probe AUROC: against the linear probe's "
        "top-1; OOD AUROC and FPR95 (lower is better): test images against the OOD data; "
        "cropped / blurred higher: share of test images whose cropped or blurred version "
        "scores strictly higher. `simsiam run: NAME`: the label-free scores of the SimSiam run "
        "of the same set, budget and seed (`--compare`). Each cell: mean [min-max] over seeds. "
        "A score a row lacks (`mahalanobis` in rows recorded before visim measured it) is "
        "'-', and a mean over the sets is taken only where every set has it.",
    ]


def machine_line(env: dict) -> str:
    devices = ", ".join(d["name"] for d in env.get("cuda_devices", [])) or "none (CPU)"
    return (
        f"Machine: {env.get('platform')}, {env.get('cpu_count')} CPUs "
        f"({env.get('cpu_model', 'CPU model not recorded')}), devices: {devices}; "
        f"torch {env.get('packages', {}).get('torch')}, visim commit {env.get('git_commit')}."
    )


DEFAULT_REPEAT = (
    "nox -s uncertainty_benchmark -- --split val     # screening",
    "nox -s uncertainty_benchmark -- --split test    # final report",
)


def markdown(
    rows: dict[str, dict], env: dict, left_out: int, repeat: tuple[str, ...] = DEFAULT_REPEAT
) -> str:
    """The page for `rows` (the results' rows recorded with the present settings); `left_out`
    rows recorded with other settings are only counted; `repeat`: the commands that remake it."""
    lines = ["# Kappa against the uncertainty baselines, across data sets, budgets and seeds", ""]
    if left_out:
        lines += [
            f"{left_out} recorded rows ran with other settings (sizes, budgets, options or "
            "visim's defaults) and are left out; running the benchmark again replaces them.",
            "",
        ]
    if not rows:
        return "\n".join([*lines, "No run recorded with the present settings yet.", ""])
    lines += [*settings_lines(rows), ""]
    grouped = groups(rows)
    for split, title in SPLIT_TITLES.items():
        in_split = {key: group for key, group in grouped.items() if key[0] == split}
        if in_split:
            lines += [f"## {title}", ""]
            lines += ["Means over the sets (each set first averaged over its seeds):", ""]
            lines += [*means_table(in_split), ""]
            lines += [
                "Top-1 against SimSiam's, seed by seed: each configuration's top-1 minus "
                "SimSiam's of the same set, budget and seed, mean ± standard error over "
                f"the seeds (how many in brackets). The bar is a gap of -{FEATURE_TOLERANCE:g} "
                "or above; a gap within two standard errors of it is not resolved by these "
                "seeds.",
                "",
                *gap_table(in_split),
                "",
            ]
            lines += [*accuracy_table(in_split), ""]
            lines += [*score_table(in_split), ""]
    lines += [
        "Repeat (resumable; `--sets`, `--budgets`, `--seeds`, `--configurations` pick a part):",
        "",
        "```",
        *repeat,
        "```",
        "",
        "<details><summary>Every command that made a row</summary>",
        "",
        "```",
        *(command for row in rows.values() for command in row["commands"]),
        "```",
        "",
        "</details>",
        "",
        machine_line(env),
        "",
    ]
    return "\n".join(lines)
