"""KServe v2 / Triton HTTP protocol: datatypes, request encoding and response decoding.

Pure encoding and decoding: no I/O, no event loop, so the HTTP client can run it
wherever it likes (inline for small batches, in a thread for large ones).

Layout of a binary body (Triton's binary tensor extension): the JSON header, then
the raw bytes of every binary tensor in the order the tensors appear in the JSON.
Numeric tensors are little-endian and row-major; BOOL is one byte per element;
BYTES elements are a 4-byte little-endian length followed by the bytes; BF16 is
the upper half of a float32.
"""

from __future__ import annotations

from .bytes_tensor import decode_bytes_tensor, encode_bytes_tensor
from .datatypes import (
    BF16,
    BOOL,
    BYTES,
    DATATYPES,
    FP16,
    FP32,
    FP64,
    INT8,
    INT16,
    INT32,
    INT64,
    UINT8,
    UINT16,
    UINT32,
    UINT64,
    config_datatype_to_triton,
    element_size,
    numpy_dtype,
    triton_datatype,
)
from .request import COMPRESSIONS, EncodedRequest, encode_request
from .response import InferResponse, decode_response, error_message
from .tensors import Tensor

__all__ = [
    "BF16",
    "BOOL",
    "BYTES",
    "COMPRESSIONS",
    "DATATYPES",
    "FP16",
    "FP32",
    "FP64",
    "INT8",
    "INT16",
    "INT32",
    "INT64",
    "UINT8",
    "UINT16",
    "UINT32",
    "UINT64",
    "EncodedRequest",
    "InferResponse",
    "Tensor",
    "config_datatype_to_triton",
    "decode_bytes_tensor",
    "decode_response",
    "element_size",
    "encode_bytes_tensor",
    "encode_request",
    "error_message",
    "numpy_dtype",
    "triton_datatype",
]
