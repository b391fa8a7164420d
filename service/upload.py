"""Receive an uploaded file from a streamed multipart/form-data body, enforcing the size limit as it arrives.

The body is parsed chunk by chunk with python-multipart's streaming parser and the file part is
written to a temporary file and hashed on the way, so a too-large upload is refused after at most
`max_bytes` have been read, never after buffering the whole body in memory.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from tagger.errors import MalformedUploadError, NotMultipartError, UploadTooLargeError

# Room for multipart boundaries, part headers and small extra fields around the file.
ENVELOPE_BYTES = 64 * 1024


@dataclass(frozen=True)
class Upload:
    """A received file: where it is on disk, its SHA-256 and its size."""

    path: Path
    sha256: str
    size: int


class _FilePartWriter:
    """Parser callbacks that copy the first part named `field_name` to `target`, hashing and counting."""

    def __init__(self, field_name: str, target: BinaryIO, max_bytes: int) -> None:
        self.field_name = field_name.encode()
        self.target = target
        self.max_bytes = max_bytes
        self.hash = hashlib.sha256()
        self.size = 0
        self.found = False
        self.complete = False
        self._in_target = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._disposition = b""

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header_field.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._disposition = b""

    def _header_end(self) -> None:
        if bytes(self._header_field).strip().lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        self._in_target = not self.found and options.get(b"name") == self.field_name
        self.found = self.found or self._in_target

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._in_target:
            return
        self.size += end - start
        if self.size > self.max_bytes:
            raise UploadTooLargeError(f"the file is larger than the {_megabytes(self.max_bytes)} limit")
        piece = data[start:end]
        self.hash.update(piece)
        self.target.write(piece)

    def _part_end(self) -> None:
        if self._in_target:
            self.complete = True
            self._in_target = False


@asynccontextmanager
async def receive_upload(
    body: AsyncIterator[bytes],
    headers: Mapping[str, str],
    *,
    field_name: str,
    max_bytes: int,
    directory: Path | None = None,
) -> AsyncIterator[Upload]:
    """Stream the multipart `body` into a temporary file, yield it as an `Upload`, then delete it.

    Raises `UploadTooLargeError`, `NotMultipartError` or `MalformedUploadError`.
    """
    content_type, options = parse_options_header(headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise NotMultipartError(f"send the audio as multipart/form-data with a `{field_name}` field")
    if not options.get(b"boundary"):
        raise MalformedUploadError("the multipart Content-Type has no boundary")
    max_body = max_bytes + ENVELOPE_BYTES
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_body:
        raise UploadTooLargeError(f"the request body is larger than the {_megabytes(max_bytes)} limit")

    descriptor, name = tempfile.mkstemp(prefix="upload-", dir=directory)
    path = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as target:
            writer = _FilePartWriter(field_name, target, max_bytes)
            await _parse(body, options[b"boundary"], writer, max_body=max_body)
        if not writer.complete:
            raise MalformedUploadError(f"the multipart body has no complete `{field_name}` field")
        if writer.size == 0:
            raise MalformedUploadError(f"the `{field_name}` field is empty")
        yield Upload(path=path, sha256=writer.hash.hexdigest(), size=writer.size)
    finally:
        path.unlink(missing_ok=True)


async def _parse(
    body: AsyncIterator[bytes], boundary: bytes, writer: _FilePartWriter, *, max_body: int
) -> None:
    parser = MultipartParser(boundary, writer.callbacks())  # type: ignore[arg-type]
    received = 0
    try:
        async for data in body:
            received += len(data)
            if received > max_body:
                raise UploadTooLargeError(
                    f"the request body is larger than the {_megabytes(writer.max_bytes)} limit"
                )
            parser.write(data)
        parser.finalize()
    except FormParserError as error:
        raise MalformedUploadError(f"malformed multipart body ({error})") from error


def _megabytes(num_bytes: int) -> str:
    return f"{num_bytes / 2**20:g} MB"
