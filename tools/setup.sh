#!/usr/bin/env bash
# Create (or bring up to date) the project's environment and build the package.
# Idempotent: a second run re-installs nothing unless requirements*.txt changed,
# and colcon only rebuilds what changed. Everything comes from the package
# registries (PyPI); nothing is downloaded at run time.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# The venv lives outside the source tree: CMake refuses include directories
# (numpy's, from the venv) that lie inside the package's source directory.
venv="${BOTTLEFIT_VENV:-$HOME/.cache/bottlefit_ros/venv}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3

if [ ! -x "$venv/bin/python" ]; then
  echo "[setup] creating $venv"
  "$python" -m venv "$venv"
fi
stamp="$venv/.requirements.sha256"
want="$(cat requirements*.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing requirements.txt into $venv (first run: a few minutes)"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements.txt 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  "$venv/bin/python" -c "import torch, torchvision, rclpy, zstandard, cv2" \
    || { echo "[setup] install incomplete" >&2; exit 1; }
  echo "$want" > "$stamp"
fi

# A robot without PyTorch: requirements-robot.txt beside the ROS wheels, in a venv of its
# own, so the tests can run the robot's nodes on it (test/nodes/test_robot_without_torch.py).
robot_venv="${BOTTLEFIT_ROBOT_VENV:-$HOME/.cache/bottlefit_ros/robot-venv}"
[ -x "$robot_venv/bin/python" ] || "$python" -m venv "$robot_venv"
robot_want="$(cat requirements-robot.txt requirements-ros.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$robot_venv/.requirements.sha256" 2>/dev/null)" != "$robot_want" ]; then
  echo "[setup] installing requirements-robot.txt (no PyTorch) into $robot_venv"
  "$robot_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    -r requirements-robot.txt -r requirements-ros.txt 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
  "$robot_venv/bin/python" -c "import rclpy, zstandard, cv2, onnxruntime, yaml" \
    || { echo "[setup] robot install incomplete" >&2; exit 1; }
  if "$robot_venv/bin/python" -c "import torch" 2>/dev/null; then
    echo "[setup] $robot_venv has PyTorch, which the robot install must not pull in" >&2; exit 1
  fi
  echo "$robot_want" > "$robot_venv/.requirements.sha256"
fi

# Optional: Fashion-MNIST for the training experiments (docs/training.md), from Debian's
# dataset-fashion-mnist package (-> /usr/share/datasets/fashion-mnist, 30 MB). Opt-in,
# since the tests do not need it: BOTTLEFIT_FASHION_MNIST=1 tools/setup.sh
if [ "${BOTTLEFIT_FASHION_MNIST:-0}" = 1 ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
  echo "[setup] installing dataset-fashion-mnist (apt-get)"
  sudo_="$( [ "$(id -u)" = 0 ] || echo sudo )"
  $sudo_ apt-get install -y dataset-fashion-mnist >/dev/null \
    || { $sudo_ apt-get update >/dev/null && $sudo_ apt-get install -y dataset-fashion-mnist >/dev/null; } \
    || { echo "[setup] apt-get install dataset-fashion-mnist failed" >&2; exit 1; }
fi

# Build msg/ + the Python package with colcon into build/ and install/.
# AMENT_PREFIX_PATH lets the build find the ROS packages installed in the venv.
# shellcheck disable=SC1091
source "$venv/bin/activate"
mkdir -p "$root/log"
export AMENT_PREFIX_PATH="$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
colcon --log-base "$root/log" build --base-paths "$root" --build-base "$root/build" \
  --install-base "$root/install" --symlink-install \
  --event-handlers console_cohesion- status- summary- \
  --cmake-args -DBUILD_TESTING=OFF -DPython3_EXECUTABLE="$venv/bin/python" >/dev/null 2>"$root/log/setup_build.err" \
  || { cat "$root/log/setup_build.err" >&2; echo "[setup] colcon build failed: see $root/log/latest_build" >&2; exit 1; }

# ONNX exports of the packaged default and the natural split, for `backend: onnxruntime`
# with `weights: default` (bottlefit_ros/backends.py::default_onnx_dir): made here from
# the weights the package ships rather than committed, and redone when those change.
onnx_root="${BOTTLEFIT_ONNX_DIR:-$HOME/.cache/bottlefit_ros/onnx}"
onnx_want="$(cat bottlefit_ros/models/data/*.pt bottlefit_ros/onnx_export.py \
  bottlefit_ros/runtime.py requirements-core.txt | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$onnx_root/.stamp" 2>/dev/null)" != "$onnx_want" ]; then
  echo "[setup] exporting the packaged models to ONNX in $onnx_root"
  for channels in default 0; do
    args=(); [ "$channels" = default ] || args=(--bottleneck-channels "$channels")
    BOTTLEFIT_ONNX_DIR="$onnx_root" "$root/tools/with_env.sh" python -m bottlefit_ros.onnx_export \
      "${args[@]}" >/dev/null || { echo "[setup] ONNX export failed" >&2; exit 1; }
  done
  echo "$onnx_want" > "$onnx_root/.stamp"
fi
echo "[setup] ready: $venv, install/ and the ONNX exports are up to date"
