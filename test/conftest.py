"""Shared test set-up: every process that starts rclpy runs with
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and a ROS_DOMAIN_ID of its own."""
from __future__ import annotations

import os
import random
from typing import Iterator

import pytest

from bottlefit_ros.shm import remove_stale_segments

# Set before any test module imports rclpy: discovery stays on this host.
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'


def random_domain_id() -> int:
    """A random ROS_DOMAIN_ID in BOTTLEFIT_TEST_DOMAINS ("LO-HI", default 1-100), so
    test runs started side by side on one machine can be kept apart."""
    lo, _, hi = os.environ.get('BOTTLEFIT_TEST_DOMAINS', '1-100').partition('-')
    return random.randint(int(lo), int(hi or lo))


os.environ.setdefault('ROS_DOMAIN_ID', str(random_domain_id()))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start with the RAM that earlier, killed runs left in /dev/shm given back."""
    remove_stale_segments()


@pytest.fixture(autouse=True, scope='module')
def _stale_dds_segments_removed() -> Iterator[None]:
    """Tests kill nodes on purpose; each SIGKILL leaves a 16 MiB Fast DDS segment
    in /dev/shm. Removed after each module, so a long run cannot fill the RAM."""
    yield
    remove_stale_segments()


@pytest.fixture
def domain_id(monkeypatch: pytest.MonkeyPatch) -> int:
    """A ROS domain of this test's own, on localhost only."""
    did = random_domain_id()
    monkeypatch.setenv('ROS_DOMAIN_ID', str(did))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    return did
