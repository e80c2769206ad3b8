"""``safe_text``: a message-supplied string can neither forge log lines nor
write megabyte log lines."""
from __future__ import annotations

import pytest

pytest.importorskip('rclpy')
from bottlefit_ros.nodes._common import safe_text  # noqa: E402


def test_control_characters_are_escaped():
    forged = 'cam\n[FATAL] [0] [edge_node]: forged\r\x1b[31m\x00'
    text = safe_text(forged, limit=200)
    assert text.isprintable()
    assert text == r'cam\n[FATAL] [0] [edge_node]: forged\r\x1b[31m\x00'


def test_long_strings_are_cut_and_say_how_much():
    assert safe_text('x' * (4 * 2**20), limit=10) == 'x' * 10 + '...(+4194294 chars)'


def test_ordinary_text_is_unchanged():
    assert safe_text('front_camera ünïcode') == 'front_camera ünïcode'
    assert safe_text(42) == '42'
