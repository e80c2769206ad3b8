"""On the robot: camera_node (head + codec) and monitor_node.

    ros2 launch bottlefit_ros robot.launch.py mode:=split model:=efficientnet_lite0 \
        namespace:=robot1 params_file:=/path/to/params.yaml
"""
from bottlefit_ros.launch_description import generate


def generate_launch_description():
    return generate('robot')
