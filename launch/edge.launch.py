"""On the edge box: edge_node (decode + tail).

    ros2 launch bottlefit_ros edge.launch.py namespace:=robot1 device:=cuda

Every argument (`--show-args`) left empty leaves the parameter file's value.
"""
from bottlefit_ros.launch_description import generate


def generate_launch_description():
    return generate('edge')
