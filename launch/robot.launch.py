"""On the robot: camera_node (head + codec) and monitor_node.

    ros2 launch bottlefit_ros robot.launch.py namespace:=robot1 mode:=split source:=topic \
        params_file:=/path/to/params.yaml

Every argument (`--show-args`) left empty leaves the parameter file's value.
"""
from bottlefit_ros.launch_description import generate


def generate_launch_description():
    return generate('robot')
