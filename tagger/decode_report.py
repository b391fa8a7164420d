"""What the intake skipped to decode a damaged file; it travels with the result to every output.

A clean decode has no report (`None`), so a result that carries one was tagged from damaged audio:
the person who sent it learns that the tags describe what decoded, and what did not.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DecodeReport:
    """Damage met while decoding one file (see `tagger.audio`)."""

    skipped_frames: int  # packets or frames the decoder refused, skipped as the ffmpeg CLI skips them
    skipped_seconds: float  # audio those frames held (their stated duration, or a codec frame's)
    missing_seconds: float  # decoded this much less than the container announced (0 when it says nothing)
    warning: str  # the same, in one sentence for a person

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> DecodeReport:
        return cls(**values)


def encode_report(report: DecodeReport | None) -> str | None:
    """JSON text for a store column (`None` stays `None`: a clean decode)."""
    return None if report is None else json.dumps(report.as_dict())


def decode_report(text: str | None) -> DecodeReport | None:
    return None if text is None else DecodeReport.from_dict(json.loads(text))
