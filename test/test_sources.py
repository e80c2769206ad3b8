"""Frame sources the camera node can own."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from bottlefit_ros.sources import FolderSource, SyntheticSource, VideoSource, frames, open_source


def test_folder_source_reads_in_name_order_skips_bad_files_and_loops(tmp_path):
    red = np.zeros((8, 10, 3), np.uint8); red[..., 2] = 255          # BGR on disk
    blue = np.zeros((8, 10, 3), np.uint8); blue[..., 0] = 255
    cv2.imwrite(str(tmp_path / 'b.png'), blue)
    cv2.imwrite(str(tmp_path / 'a.png'), red)
    (tmp_path / 'c.jpg').write_bytes(b'not a jpeg')
    (tmp_path / 'notes.txt').write_text('ignored')
    src = FolderSource(tmp_path, loop=True)
    assert src.names == ['a.png', 'b.png'] and src.skipped == ['c.jpg']
    got = [src.read() for _ in range(3)]
    assert got[0][0, 0].tolist() == [255, 0, 0]                      # RGB out
    assert got[1][0, 0].tolist() == [0, 0, 255]
    assert got[2] is got[0]
    once = FolderSource(tmp_path, loop=False)
    assert [once.read() is None for _ in range(3)] == [False, False, True]


def test_folder_source_errors(tmp_path):
    with pytest.raises(ValueError, match='does not exist'):
        FolderSource(tmp_path / 'missing')
    with pytest.raises(ValueError, match='no readable images'):
        FolderSource(tmp_path)


def test_packaged_sample_photos():
    src = open_source('folder')
    assert len(src) >= 4
    frame = src.read()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


def test_synthetic_source_moves():
    src = open_source('synthetic:64x48')
    a = src.read().copy()
    b = src.read()
    assert a.shape == (48, 64, 3) and not np.array_equal(a, b)
    with pytest.raises(ValueError, match='640x480'):
        open_source('synthetic:big')
    with pytest.raises(ValueError, match='positive'):
        SyntheticSource(0, 10)


def test_video_source_reads_a_file(tmp_path):
    path = tmp_path / 'clip.avi'
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 10, (32, 24))
    if not writer.isOpened():
        pytest.skip('this OpenCV build cannot write MJPG video')
    for i in range(3):
        writer.write(np.full((24, 32, 3), i * 60, np.uint8))
    writer.release()
    src = VideoSource(str(path))
    got = list(frames(src))
    src.close()
    assert len(got) == 3 and got[0].shape == (24, 32, 3)


def test_unknown_sources_are_refused():
    with pytest.raises(ValueError, match='unknown source'):
        open_source('webcam')
    with pytest.raises(ValueError, match='needs a target'):
        open_source('video')
    with pytest.raises(ValueError, match='cannot open'):
        open_source('video:/nonexistent/file.mp4')
