"""On the edge box: edge_node (decode + tail).

    ros2 launch bottlefit_ros edge.launch.py mode:=split model:=efficientnet_lite0 \
        namespace:=robot1 params_file:=/path/to/params.yaml
"""
from bottlefit_ros.launch_description import generate


def generate_launch_description():
    return generate('edge')
