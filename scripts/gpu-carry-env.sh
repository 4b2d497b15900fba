# Source this (bash): makes what .gpu-carry/ holds usable in the current shell, if it is there.
# The FFCV wheel is installed into a fresh folder on PYTHONPATH with --no-deps and --no-index
# (the GPU machine has FFCV's runtime dependencies and no network), and the shared libraries
# its extension links are found through LD_LIBRARY_PATH.
#   PYTHON   the interpreter to install for (default: python3)
#   CARRY    the folder (default: .gpu-carry in the current directory)
# Sets GPU_CARRY_FFCV=1 when FFCV was installed from it, 0 when there is nothing to install.

CARRY="${CARRY:-$PWD/.gpu-carry}"
GPU_CARRY_FFCV=0
if compgen -G "$CARRY/wheels/*.whl" >/dev/null; then
    GPU_CARRY_SITE="$(mktemp -d /tmp/gpu-carry-site.XXXXXX)"
    "${PYTHON:-python3}" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir \
        --target "$GPU_CARRY_SITE" "$CARRY"/wheels/*.whl || return 1
    export PYTHONPATH="$GPU_CARRY_SITE${PYTHONPATH:+:$PYTHONPATH}"
    export LD_LIBRARY_PATH="$CARRY/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    GPU_CARRY_FFCV=1
fi
