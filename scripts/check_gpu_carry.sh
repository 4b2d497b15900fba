#!/usr/bin/env bash
# Proves that .gpu-carry/ (scripts/prepare_gpu_carry.py) works on its own, as on a GPU machine
# without FFCV or OpenCV: in a private mount namespace where this machine's copies of every
# carried library are hidden, it installs the wheel as the GPU machine does
# (scripts/gpu-carry-env.sh), checks with ldd that each library the extension loads comes from
# .gpu-carry/lib or is the machine's own glibc/libstdc++/zlib, and runs visim's FFCV tests.
#
#   bash scripts/check_gpu_carry.sh [PYTHON [PYTEST ARGS...]]
#
# PYTHON: an interpreter like the GPU machine's, with visim importable and no FFCV installed
# (default: python3; `nox -s gpu_carry` passes its Python 3.12 / torch 2.11 one). Needs root
# for the mount namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON="${1:-python3}"
shift || true
CARRY="$PWD/.gpu-carry"
manifest="$CARRY/manifest.json"
[ -f "$manifest" ] || { echo "error: $manifest missing: run scripts/prepare_gpu_carry.py" >&2; exit 1; }

if [ -z "${GPU_CARRY_HIDDEN:-}" ]; then
    exec unshare --mount --propagation private env GPU_CARRY_HIDDEN=1 bash "$0" "$PYTHON" "$@"
fi

# Hide the system's copies: opening one now reads /dev/null, which no loader accepts.
"$PYTHON" -c 'import json, sys; print("\n".join(json.load(open(sys.argv[1]))["library_sources"].values()))' \
    "$manifest" | while read -r source; do
    mount --bind /dev/null "$source"
done
if "$PYTHON" -c "import ffcv" 2>/dev/null; then
    echo "error: ffcv is importable without .gpu-carry/: use an interpreter without it" >&2
    exit 1
fi

source scripts/gpu-carry-env.sh
[ "$GPU_CARRY_FFCV" = 1 ] || { echo "error: no wheel in $CARRY/wheels" >&2; exit 1; }
extension="$(ls "$GPU_CARRY_SITE"/ffcv/_libffcv*.so)"
echo "libraries the extension loads:"
ldd "$extension" | tee /tmp/gpu-carry-ldd.txt
# Each "name => path" line must point into the folder, or name a library the manifest leaves
# to the machine (glibc, libstdc++, zlib).
"$PYTHON" - "$manifest" "$CARRY/lib/" /tmp/gpu-carry-ldd.txt <<'PY'
import json, sys
manifest, folder, ldd = json.load(open(sys.argv[1])), sys.argv[2], open(sys.argv[3]).read()
own = set(manifest["left_on_the_machine"])
bad = [
    line.strip() for line in ldd.splitlines()
    if "=>" in line and not line.split("=>")[1].strip().startswith(folder)
    and line.split("=>")[0].strip() not in own
]
if bad:
    sys.exit("error: not from the carried folder: " + "; ".join(bad))
print(f"every library resolves into {folder} or is the machine's own ({', '.join(sorted(own))})")
PY
"$PYTHON" -m pytest -q -p no:cacheprovider "${@:-tests/pipeline/backends/ffcv/test_loader.py}"
