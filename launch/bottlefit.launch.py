"""All three nodes on one host.

    ros2 launch bottlefit_ros bottlefit.launch.py source:=folder rate_hz:=5 max_frames:=100 \
        summary_path:=/tmp/summary.json

Every argument (`--show-args`) left empty leaves the parameter file's value.
"""
from bottlefit_ros.launch_description import generate


def generate_launch_description():
    return generate('all')
