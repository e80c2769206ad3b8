"""The ROS 2 nodes: thin adapters that turn messages into core calls and back.
This is the only subpackage that imports rclpy."""
