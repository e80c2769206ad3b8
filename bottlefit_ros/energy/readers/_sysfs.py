"""Small helpers to read sysfs attribute files (private to the readers)."""

from __future__ import annotations

import errno
from pathlib import Path

from ..errors import PowerReaderError

__all__ = ["read_number", "read_text", "reader_error", "under_root"]


def under_root(root: Path, absolute: str) -> Path:
    """Map an absolute system path (``/sys/...``) under ``root`` (``/`` on a real system)."""
    return Path(root) / absolute.lstrip("/")


def read_text(path: Path) -> str:
    """Return the stripped content of a sysfs attribute.

    ``OSError`` (missing file, permission, ``EIO``/``ENODATA`` from a sensor that is off)
    propagates; readers turn it into a :class:`PowerReaderError` with :func:`reader_error`.
    """
    return path.read_text(encoding="ascii", errors="replace").strip().strip("\x00")


def read_number(path: Path) -> float:
    """Read a numeric attribute; only the first token counts (some drivers append units)."""
    text = read_text(path)
    token = text.split()[0] if text else ""
    try:
        return float(int(token))
    except ValueError:
        try:
            return float(token)
        except ValueError:
            raise PowerReaderError(f"{path}: expected a number, read {text!r}") from None


def reader_error(what: str, path: Path, exc: OSError) -> PowerReaderError:
    """A :class:`PowerReaderError` that names the file and the reason in words."""
    if isinstance(exc, PermissionError):
        reason = "permission denied (run as root or grant read access to this file)"
    elif isinstance(exc, FileNotFoundError):
        reason = "no such file (the driver is not loaded or the device went away)"
    elif exc.errno in (errno.EIO, errno.ENODATA, errno.EAGAIN):
        reason = f"the sensor did not answer ({errno.errorcode.get(exc.errno or 0, exc.errno)})"
    else:
        reason = exc.strerror or str(exc)
    return PowerReaderError(f"{what}: cannot read {path}: {reason}")
