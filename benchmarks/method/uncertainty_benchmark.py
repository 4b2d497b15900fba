"""Kappa against label-free and supervised uncertainty scores, across data sets, budgets, seeds.

For every data set (uncertainty_data.py: fashion-mnist, digits, textures, demo) and budget,
three configurations pre-train from scratch with each seed: SimSiam, VI-SimSiam with the
current defaults (no method option given), and the paper's objective (NLL, softplus head).
`visim eval` then measures kNN and linear-probe accuracy, R@1 and, for kappa and each
baseline score, R-AUROC, probe AUROC, OOD AUROC and FPR95 against the set's far-OOD partner,
and how often cropping or blurring a test image raises the score; a VI-SimSiam run is
evaluated with --compare naming the SimSiam run of the same set, budget and seed.

    python benchmarks/method/uncertainty_benchmark.py --split val     screen: validation parts only
    python benchmarks/method/uncertainty_benchmark.py --split test    final report: the test subsets
    nox -s uncertainty_benchmark -- --split test               the same, in its own virtualenv

Sizing, for the project's 2-core CPU machine: each set keeps 1,600 training images (1,200 in
the validation variant) and 400 evaluation images (digits: 1,397 / 997 and 400); ResNet-18
with its ImageNet stem at 32 px (8x8 maps after the stem, as `visim demo`), heads a quarter of
SimSiam's width (projector 512, predictor bottleneck 128: HEADS), batch 64, one loader worker;
budgets of 2 and 6 epochs (BUDGETS). Measured on the 2-core AMD EPYC with nothing else
running: about 85 image pairs/s of training, about 10 s of start-up per pre-training, 11-14 s
per evaluation; the 6-epoch SimSiam run on fashion-mnist's validation variant took 94 s + 11 s.
That makes the whole table of one split (4 sets x 2 budgets x 3 configurations x 3 seeds = 72
runs) about 2.0 hours for --split test and 1.5 for --split val. Another CPU-bound process
slows it several-fold (11-18 pairs/s were measured beside a test suite): run it alone.

Resumable: each run's row is written to the results file as soon as it is evaluated; a rerun
skips rows recorded with the same settings, and redoes an interrupted run from scratch. The
markdown beside the results is rebuilt from them at the end of every invocation
(--report-only: only that).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Collection, Iterator
from pathlib import Path

from uncertainty_data import OOD_PARTNER, SETS, Sizes, materialise
from uncertainty_report import DEFAULT_REPEAT, markdown
from uncertainty_runs import (
    BUDGETS,
    CONFIGURATIONS,
    METHOD_OPTIONS,
    RETIRED,
    SCREENED,
    Run,
    complete,
    execute,
    same_settings,
    settings_of,
)

from visim.core.atomic_write import write_text_atomically
from visim.train.environment import environment_report

RESULTS = Path(__file__).parent / "uncertainty_benchmark.json"
CACHE = Path(__file__).parents[1] / "data" / "uncertainty"


def runs_of(args: argparse.Namespace) -> Iterator[Run]:
    """Short budgets first, then seed by seed, so that a partial table covers every set; in
    each group SimSiam first, which the VI-SimSiam evaluations compare against."""
    order = sorted(args.configurations, key=lambda name: name != "simsiam")
    for budget in args.budgets:
        for seed in args.seeds:
            for data_set in args.sets:
                for configuration in order:
                    yield Run(args.split, data_set, budget, seed, configuration)


def pending(run: Run, args: argparse.Namespace, summary: dict) -> bool:
    """Whether `run` has no row recorded with its present settings."""
    recorded = summary["rows"].get(run.key, {}).get("settings")
    return recorded is None or not same_settings(
        recorded, settings_of(run, args.sizes, args.workers)
    )


def schedule(args: argparse.Namespace, summary: dict) -> list[tuple[Run, bool]]:
    """The runs asked for in order, each with whether a run still to do compares against it.
    Such a SimSiam run joins the list before its first VI-SimSiam run even where
    --configurations leaves SimSiam out: --compare reads its run directory."""
    order: list[Run] = []
    compared: set[Run] = set()
    for run in runs_of(args):
        if run.configuration != "simsiam" and pending(run, args, summary):
            compared.add(run.simsiam())
            if run.simsiam() not in order:
                order.append(run.simsiam())
        if run not in order:
            order.append(run)
    return [(run, run in compared) for run in order]


def ensure(run: Run, args: argparse.Namespace, summary: dict, needed_by_another: bool) -> None:
    """Run `run` unless its row is recorded with the same settings (and, when another run
    compares against it, its run directory is still complete); record the row at once."""
    if not pending(run, args, summary) and (
        not needed_by_another or complete(run.run_dir(args.out, args.sizes))
    ):
        return
    summary["rows"][run.key] = execute(run, args, settings_of(run, args.sizes, args.workers))
    summary["environment"] = environment_report()
    write_text_atomically(args.results, json.dumps(summary, indent=2) + "\n")


def is_current(row: dict, args: argparse.Namespace) -> bool:
    """Whether `row` was recorded with the settings its run has now (sizes and workers as
    given): the tables show only such rows, never a mix of old and new settings."""
    s = row["settings"]
    if s["configuration"] in RETIRED:
        return True  # its option was removed after it was recorded: the evidence stays
    try:
        run = Run(s["split"], s["set"], s["budget"], s["seed"], s["configuration"])
        return same_settings(s, settings_of(run, args.sizes, args.workers))
    except KeyError:  # a set, budget or configuration since renamed or removed
        return False


def names(
    parser: argparse.ArgumentParser, text: str, known: Collection[str], option: str
) -> list[str]:
    """The comma-separated names of `text`, or the parser's error naming unknown ones."""
    chosen = text.split(",")
    unknown = [name for name in chosen if name not in known]
    if unknown:
        parser.error(f"{option}: unknown {unknown}; known: {', '.join(known)}")
    return chosen


def repeat_commands(args: argparse.Namespace, summary: dict) -> tuple[str, ...]:
    """What remakes this results file: the nox sessions for the benchmark's own, else every
    invocation that ran into it (a screen kept in a file of its own), in order."""
    if args.results.resolve() == RESULTS.resolve():
        return DEFAULT_REPEAT
    return tuple(summary.get("invocations", []))


def note_invocation(summary: dict) -> None:
    """This command line, in the results' list of invocations (once)."""
    command = " ".join(["python benchmarks/method/uncertainty_benchmark.py", *sys.argv[1:]])
    invocations = summary.setdefault("invocations", [])
    if command not in invocations:
        invocations.append(command)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--split", choices=("val", "test"), default="val", help="val: screen; test: final report"
    )
    parser.add_argument("--sets", default=",".join(SETS), help="comma-separated")
    parser.add_argument("--budgets", default=",".join(BUDGETS), help=f"of {BUDGETS} epochs")
    parser.add_argument("--seeds", default="0,1,2", help="training seeds, comma-separated")
    parser.add_argument(
        "--configurations",
        default=",".join(CONFIGURATIONS),
        help=f"comma-separated; also the screened variants {', '.join(SCREENED)}",
    )
    parser.add_argument(
        "--train-images", type=int, default=1600, help="per set, as described above"
    )
    parser.add_argument("--eval-images", type=int, default=400, help="per set, as described above")
    parser.add_argument("--workers", type=int, default=1, help="loader workers of each run")
    parser.add_argument("--cache", type=Path, default=CACHE, help="the materialised data sets")
    parser.add_argument(
        "--out", type=Path, default=Path("runs/uncertainty-benchmark"), help="run directories"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="markdown: beside it, .md")
    parser.add_argument("--report-only", action="store_true", help="only rebuild the markdown")
    args = parser.parse_args()
    args.sets = names(parser, args.sets, SETS, "--sets")
    args.budgets = names(parser, args.budgets, BUDGETS, "--budgets")
    args.configurations = names(parser, args.configurations, METHOD_OPTIONS, "--configurations")
    args.seeds = [int(seed) for seed in args.seeds.split(",")]
    if not 0 < args.eval_images < args.train_images:
        parser.error("--eval-images must be positive and below --train-images")
    args.sizes = Sizes(args.train_images, args.eval_images)
    return args


def main() -> None:
    args = parse_args()
    summary: dict = {"rows": {}}
    if args.results.is_file():
        summary = json.loads(args.results.read_text())
    stopped = None
    if not args.report_only:
        note_invocation(summary)
        try:
            run_all(args, summary)
        except (KeyboardInterrupt, subprocess.CalledProcessError) as error:
            # The rows recorded so far still make the page; the next invocation goes on.
            stopped = f"stopped ({type(error).__name__}); run the same command again to go on"
    current = {key: row for key, row in summary["rows"].items() if is_current(row, args)}
    left_out = len(summary["rows"]) - len(current)
    text = markdown(
        current, summary.get("environment", {}), left_out, repeat_commands(args, summary)
    )
    write_text_atomically(args.results.with_suffix(".md"), text)
    print(text)
    if stopped:
        sys.exit(stopped)


def run_all(args: argparse.Namespace, summary: dict) -> None:
    for data_set in sorted({*args.sets, *(OOD_PARTNER[name] for name in args.sets)}):
        materialise(data_set, args.sizes, args.cache)
    for run, compared in schedule(args, summary):
        ensure(run, args, summary, compared)


if __name__ == "__main__":
    main()
