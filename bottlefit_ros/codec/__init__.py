"""ROS-free codecs: 8-bit bottleneck quantization, zstd compression, JPEG.

``TensorCodec`` turns the head's output into an ``EncodedTensor`` (the fields of
the Bottleneck message) and back; ``JpegCodec`` does the same for images in
offload mode. All errors derive from ``CodecError`` (a ``ValueError``).
"""

from bottlefit_ros.codec.errors import (
    CodecError,
    MalformedPayloadError,
    PayloadTooLargeError,
    UnknownCodecError,
)
from bottlefit_ros.codec.jpeg import JpegCodec
from bottlefit_ros.codec.quantization import (
    MAX_SCALE,
    QuantizedTensor,
    dequantize_8bit,
    quantize_8bit,
)
from bottlefit_ros.codec.tensor_codec import CODECS, MAX_DIMS, EncodedTensor, TensorCodec

__all__ = [
    "CODECS",
    "CodecError",
    "EncodedTensor",
    "JpegCodec",
    "MAX_DIMS",
    "MAX_SCALE",
    "MalformedPayloadError",
    "PayloadTooLargeError",
    "QuantizedTensor",
    "TensorCodec",
    "UnknownCodecError",
    "dequantize_8bit",
    "quantize_8bit",
]
