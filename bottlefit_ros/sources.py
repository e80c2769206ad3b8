"""Frame sources a camera node can own when no camera driver publishes
``image_raw``: a folder of images, a camera device or video file (OpenCV), or a
synthetic pattern. ROS-free; each yields RGB uint8 frames.

``open_source(spec)`` parses the ``source`` parameter:

- ``folder`` or ``folder:/path``: images in a folder, sorted by name
  (default folder: the sample photos shipped with the package)
- ``video:/dev/video0``, ``video:0`` or ``video:/path/file.mp4``
- ``synthetic`` or ``synthetic:WxH``: a moving colour pattern
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm', '.tif', '.tiff', '.webp')


class FrameSource(Protocol):
    """Something that gives RGB frames."""

    def read(self) -> np.ndarray | None:
        """The next RGB uint8 frame, or ``None`` when the source has ended."""

    def close(self) -> None:
        """Release the device or file."""


def sample_photos_dir() -> Path:
    """The folder of sample photos shipped inside the package."""
    return Path(str(resources.files('bottlefit_ros') / 'data' / 'samples'))


class FolderSource:
    """Images of a folder, in name order; loops when ``loop`` is true.

    All images are decoded once at start-up, so reading a frame costs nothing.
    Unreadable files are skipped and listed in ``skipped``.
    """

    def __init__(self, folder: str | Path | None = None, *, loop: bool = True) -> None:
        self.folder = Path(folder) if folder else sample_photos_dir()
        if not self.folder.is_dir():
            raise ValueError(f'image folder {self.folder} does not exist')
        paths = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        self.names: list[str] = []
        self.skipped: list[str] = []
        self._frames: list[np.ndarray] = []
        for path in paths:
            bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if bgr is None:
                self.skipped.append(path.name)
                continue
            self._frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            self.names.append(path.name)
        if not self._frames:
            raise ValueError(f'no readable images ({", ".join(IMAGE_SUFFIXES)}) in {self.folder}')
        self.loop = loop
        self._next = 0

    def __len__(self) -> int:
        return len(self._frames)

    def read(self) -> np.ndarray | None:
        if self._next >= len(self._frames):
            if not self.loop:
                return None
            self._next = 0
        frame = self._frames[self._next]
        self._next += 1
        return frame

    def close(self) -> None:
        self._frames.clear()


class VideoSource:
    """A camera device or a video file through OpenCV's ``VideoCapture``."""

    def __init__(self, target: str, *, loop: bool = False) -> None:
        self.target = target
        self.loop = loop
        self._cap = cv2.VideoCapture(int(target) if target.isdigit() else target)
        if not self._cap.isOpened():
            raise ValueError(f'cannot open camera or video {target!r}')

    def read(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        if not ok and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, bgr = self._cap.read()
        if not ok:
            return None
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def close(self) -> None:
        self._cap.release()


class SyntheticSource:
    """A moving colour gradient: a source that needs no camera and no files."""

    def __init__(self, width: int = 320, height: int = 240) -> None:
        if width <= 0 or height <= 0:
            raise ValueError(f'synthetic size must be positive, got {width}x{height}')
        yy, xx = np.mgrid[0:height, 0:width]
        self._base = np.stack([xx * 255 // max(width - 1, 1), yy * 255 // max(height - 1, 1),
                               (xx + yy) * 255 // max(width + height - 2, 1)], axis=-1)
        self._frame = np.empty((height, width, 3), dtype=np.uint8)
        self._t = 0

    def read(self) -> np.ndarray:
        np.add(self._base, self._t * 4, out=self._frame, casting='unsafe')
        self._t += 1
        return self._frame

    def close(self) -> None:
        pass


def frames(source: FrameSource, limit: int | None = None) -> Iterator[np.ndarray]:
    """The frames of ``source`` until it ends (or ``limit`` frames)."""
    count = 0
    while limit is None or count < limit:
        frame = source.read()
        if frame is None:
            return
        yield frame
        count += 1


def open_source(spec: str, *, loop: bool = True) -> FrameSource:
    """Open the frame source named by a ``source`` parameter value (see module doc)."""
    kind, _, arg = spec.partition(':')
    if kind == 'folder':
        return FolderSource(arg or None, loop=loop)
    if kind == 'video':
        if not arg:
            raise ValueError("video source needs a target, e.g. 'video:/dev/video0'")
        return VideoSource(arg, loop=loop)
    if kind == 'synthetic':
        if not arg:
            return SyntheticSource()
        try:
            w, h = (int(v) for v in arg.lower().split('x'))
        except ValueError:
            raise ValueError(f"synthetic size must look like '640x480', got {arg!r}") from None
        return SyntheticSource(w, h)
    raise ValueError(f"unknown source {spec!r}: use 'topic', 'folder[:PATH]', "
                     "'video:DEVICE_OR_FILE' or 'synthetic[:WxH]'")
