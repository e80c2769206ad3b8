"""Errors raised by the codecs.

Every error derives from :class:`CodecError`, itself a :class:`ValueError`, so a
node can drop a bad frame with one ``except CodecError`` and keep running.
Messages say what was wrong and quote the offending values.
"""

from __future__ import annotations

__all__ = [
    "CodecError",
    "MalformedPayloadError",
    "PayloadTooLargeError",
    "UnknownCodecError",
]


class CodecError(ValueError):
    """Base class of all codec errors."""


class UnknownCodecError(CodecError):
    """The codec name is not one this decoder knows."""


class MalformedPayloadError(CodecError):
    """The metadata or the payload is inconsistent, truncated or corrupt."""


class PayloadTooLargeError(CodecError):
    """The payload would decode to more than the configured limit."""
