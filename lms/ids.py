"""Time-ordered identifiers."""
from __future__ import annotations

import os
import time
import uuid


def uuid7() -> str:
    """A version 7 UUID (RFC 9562: 48-bit Unix milliseconds, then random bits), as a lower-case string.

    Valid wherever a UUID is (xAPI accepts any version of the RFC 4122 variant). Ids made one after another
    sort together, so a unique index on them grows at its end instead of touching a random page per row."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")  # 80 random bits, 74 of them used
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80) | (0x7 << 76) | (((rand >> 62) & 0xFFF) << 64) | (0b10 << 62) \
        | (rand & 0x3FFF_FFFF_FFFF_FFFF)
    return str(uuid.UUID(int=value))
