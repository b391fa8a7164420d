"""Synthetic songs in distinct styles, and near-copies of a song, made by ffmpeg and sox for similarity tests.

A style is an `aevalsrc` expression (a drone, a beat, an arpeggio, bells); `variant` detunes it a little,
so songs of one style differ but stay closer to each other than to another style. `pitch_shift` and
`reencode` make what a catalogue holds twice: the same song slightly retuned, or in another format.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from support.audio_files import ENCODERS

STYLES: dict[str, str] = {
    "drone": "0.3*sin(2*PI*({f}/4)*t)+0.2*sin(2*PI*({f}*3/8)*t)*(0.6+0.4*sin(2*PI*0.5*t))",
    "beat": "0.8*sin(2*PI*({f}/8)*t)*exp(-20*mod(t,0.5))+0.4*(random(0)-0.5)*exp(-40*mod(t+0.25,0.5))",
    "arpeggio": "0.3*sgn(sin(2*PI*{f}*pow(2,floor(mod(t*4,4))*4/12)*t))",
    "bells": "0.4*sin(2*PI*{f}*2*t)*exp(-3*mod(t,1))+0.2*sin(2*PI*{f}*3*t)*exp(-3*mod(t,1))",
}


def make_styled_song(path: Path, style: str, *, variant: int = 0, seconds: float = 8.0) -> Path:
    """`seconds` of `style` at 22.05 kHz, detuned by `variant` semitone fifths (0: the style's base pitch)."""
    frequency = 440.0 * 2 ** (variant * 0.2 / 12)
    expression = STYLES[style].format(f=f"{frequency:.3f}")
    _ffmpeg(["-f", "lavfi", "-i", f"aevalsrc='{expression}':s=22050:d={seconds}"], path)
    return path


def pitch_shift(source: Path, path: Path, cents: float) -> Path:
    """`source` retuned by `cents` (sox's `pitch`, tempo kept), written in `path`'s format."""
    retuned = path.with_suffix(".shifted.wav")
    subprocess.run(["sox", str(source), str(retuned), "pitch", str(cents)], check=True, capture_output=True)
    reencode(retuned, path)
    retuned.unlink()
    return path


def reencode(source: Path, path: Path, *, start: float = 0.0, seconds: float | None = None) -> Path:
    """`source` (from `start`, `seconds` long if given) encoded again in `path`'s format."""
    span = ["-ss", str(start)] + ([] if seconds is None else ["-t", str(seconds)])
    return _ffmpeg([*span, "-i", str(source)], path)


def _ffmpeg(inputs: list[str], path: Path) -> Path:
    encoder = ENCODERS[path.suffix.lstrip(".")]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *inputs, "-ac", "1", *encoder, str(path)],
        check=True,
    )
    return path
