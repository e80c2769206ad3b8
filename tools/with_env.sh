#!/usr/bin/env bash
# Run a command inside the project's environment (after tools/setup.sh):
# the venv, the colcon-built package, and the network rule for DDS.
#   tools/with_env.sh python -m bottlefit_ros.launcher --frames 20
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${BOTTLEFIT_VENV:-$HOME/.cache/bottlefit_ros/venv}"
[ -x "$venv/bin/python" ] && [ -f "$root/install/local_setup.bash" ] \
  || { echo "environment missing: run tools/setup.sh first" >&2; exit 1; }
# shellcheck disable=SC1091
source "$venv/bin/activate"
set +u
# shellcheck disable=SC1091
source "$root/install/local_setup.bash"
set -u
# Network rule: DDS discovery and data stay on this host, in a domain of our own.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
export ROS_DOMAIN_ID="${ROS_DOMAIN_ID:-$(( (RANDOM % 100) + 1 ))}"
# Shared-memory transport big enough for whole images; UDP only on 127.0.0.1; memory
# buffers freed with their samples (RMW_FASTRTPS_USE_QOS_FROM_XML=1 makes rmw_fastrtps
# read that policy from the file). A profile file of the caller's own is left alone.
if [ -z "${FASTDDS_DEFAULT_PROFILES_FILE:-}" ]; then
  export FASTDDS_DEFAULT_PROFILES_FILE="$root/config/fastdds_localhost.xml"
  export RMW_FASTRTPS_USE_QOS_FROM_XML="${RMW_FASTRTPS_USE_QOS_FROM_XML:-1}"
fi
export PYTHONUNBUFFERED=1
exec "$@"
