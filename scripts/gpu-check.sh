#!/usr/bin/env bash
# Every GPU figure docs/benchmarks.md promises, in one command, on a GPU machine with no network and a
# fixed time (8 minutes of wall time by default):
#
#   1. makes FFCV usable from .gpu-carry/ when that folder came along (scripts/gpu-carry-env.sh;
#      prepare it beforehand with `nox -s gpu_carry`), and visim from this checkout;
#   2. prints `visim info` (versions, the GPU, which backends run);
#   3. runs every CUDA-only test (pytest -m cuda) within its share of the time;
#   4. runs `visim bench train --profile gpu` on what time is left: image pairs/s of
#      VI-SimSiam and SimSiam, ResNet-18 and ResNet-50 at 224 px in bf16, channels_last on and
#      off, torch.compile on for ResNet-50; the GPU colour stage's share of a step; peak device
#      memory; the data stall of the torch backend (and ffcv's, if it came) against synthetic
#      data. Cases that no longer fit are reported as skipped, never cut off half-way.
#
# Results go to OUT (default benchmarks/gpu/): train.json and train.md (with the device,
# driver and versions), info.txt, cuda-tests.txt, and gpu-check.md, a summary of the run.
#
#   bash scripts/gpu-check.sh [--dry-run] [--seconds S] [--out DIR]
#
# --dry-run prints the plan and its time budget, including every benchmark case with its
# estimate (visim.bench.train.case_estimate), and runs nothing: it works on any machine.
# Environment: PYTHON (default python3), GPU_CHECK_WORKERS (loader workers; default: all cores).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=480
out=benchmarks/gpu
dry_run=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1 ;;
        --seconds) seconds="$2"; shift ;;
        --out) out="$2"; shift ;;
        *) echo "error: unknown option $1 (use --dry-run, --seconds S, --out DIR)" >&2; exit 2 ;;
    esac
    shift
done
case "$seconds" in ''|*[!0-9]*) echo "error: --seconds must be a whole number, got $seconds" >&2; exit 2 ;; esac

# Each step's share of the time, in seconds; the benchmark gets what the others leave.
SETUP_S=20        # installing the carried wheel, importing visim
INFO_S=15         # visim info: imports torch, FFCV and DALI, reads the GPU
TESTS_S=200       # the CUDA-only tests: two short compiles (colour stage, ResNet-18), FFCV's numba
REPORT_S=15       # writing the summary after the benchmark
bench_s=$((seconds - SETUP_S - INFO_S - TESTS_S - REPORT_S))
if [ "$bench_s" -lt 60 ]; then
    echo "error: --seconds $seconds leaves $bench_s s for the benchmark; give at least $((SETUP_S + INFO_S + TESTS_S + REPORT_S + 60))" >&2
    exit 2
fi

export PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"  # visim from this checkout, no install
workers="${GPU_CHECK_WORKERS:-$(nproc)}"
bench=("$PYTHON" -m visim bench train --profile gpu --device cuda --workers "$workers")

if [ "$dry_run" = 1 ]; then
    echo "gpu-check plan: $seconds s in all"
    echo "  $SETUP_S s  FFCV from .gpu-carry/ ($( [ -d .gpu-carry/wheels ] && echo present || echo 'absent: ffcv rows will be skipped' ))"
    echo "  $INFO_S s  visim info"
    echo "  $TESTS_S s  pytest -m cuda (every CUDA-only test; stopped at $TESTS_S s)"
    echo "  $bench_s s  visim bench train --profile gpu, cases in this order:"
    "${bench[@]}" --time-budget "$bench_s" --dry-run
    echo "  $REPORT_S s  summary in $out/gpu-check.md"
    exit 0
fi

started=$(date +%s)
mkdir -p "$out"
elapsed() { echo $(($(date +%s) - started)); }
steps=()

source scripts/gpu-carry-env.sh
steps+=("setup: FFCV from .gpu-carry/: $( [ "$GPU_CARRY_FFCV" = 1 ] && echo installed || echo 'not carried' ) ($(elapsed) s)")

"$PYTHON" -m visim info | tee "$out/info.txt"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader >>"$out/info.txt" 2>&1 || true
steps+=("visim info: $out/info.txt ($(elapsed) s)")

set +e
timeout "$TESTS_S" "$PYTHON" -m pytest -m cuda -q -rs -p no:cacheprovider --timeout "$TESTS_S" tests \
    >"$out/cuda-tests.txt" 2>&1
tests_code=$?
set -e
tail -n 25 "$out/cuda-tests.txt"
steps+=("CUDA-only tests: exit $tests_code, $(tail -n 1 "$out/cuda-tests.txt") ($(elapsed) s)")

left=$((seconds - $(elapsed) - REPORT_S))
set +e
"${bench[@]}" --time-budget "$left" --json "$out/train.json" --markdown "$out/train.md"
bench_code=$?
set -e
steps+=("benchmark: exit $bench_code, $out/train.md, budget $left s ($(elapsed) s)")

{
    echo "# GPU check"
    echo
    echo "Started $(date -u -d "@$started" +%Y-%m-%dT%H:%M:%SZ), $(elapsed) s of $seconds s."
    echo
    for step in "${steps[@]}"; do echo "- $step"; done
    echo
    echo "Device: $(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null || echo unknown)"
} >"$out/gpu-check.md"
cat "$out/gpu-check.md"
[ "$tests_code" = 0 ] && [ "$bench_code" = 0 ]
