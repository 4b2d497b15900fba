#!/usr/bin/env bash
# One-step set-up of a development checkout: FFCV's system libraries, then a virtualenv in
# .venv with visim and every extra, torch pinned to the pair in constraints/dev.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-system-packages.sh
python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints/dev.txt -e '.[all]'
echo "visim is installed in .venv: run .venv/bin/visim --help (or: source .venv/bin/activate)"
