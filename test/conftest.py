"""Shared test set-up: every process that starts rclpy runs with
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a ROS_DOMAIN_ID of its own."""
from __future__ import annotations

import os
import random

# Set before any test module imports rclpy: discovery stays on this host.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(1, 100)))
