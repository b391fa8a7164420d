"""musicnn's own tagger against our port of the same model behind POST /tag, on the same real recordings.

The peer runs as a user runs it: `musicnn.extractor.extractor` (what `musicnn.tagger.top_tags`
calls) in a long-lived Python process of its own (`bench/musicnn_tagger.py`), so its imports are
paid once but each call builds its graph, restores its checkpoint and computes librosa's spectrogram,
as it always does. Ours is a real server (`python -m service`) answering POST /tag with the port of
the same checkpoint, timed from sending the file to reading the JSON, at musicnn's own patch hop
(2.992 s), so both score the same windows: the taggram rows they share are compared to check that
the speed is not bought with different results. The two alternate file by file, round by round.
"""

from __future__ import annotations

import logging
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from bench.musicnn_tagger import musicnn_tagger
from bench.peer_worker import PeerWorker
from bench.report import spread
from bench.serving import DEFAULT_MODEL, post_tag, running_server
from bench.songs import real_excerpts, song_variants

TITLE = "Peers: musicnn's own tagger vs POST /tag"
ROUNDS = 3
MUSICNN_HOP_SECONDS = 187 * 256 / 16_000  # musicnn's non-overlapping 187-frame patches

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileResult:
    name: str
    seconds_of_audio: float
    musicnn: list[float]
    ours: list[float]
    max_difference: float  # over the taggram rows both computed

    @property
    def speedup(self) -> float:
        return statistics.median(self.musicnn) / statistics.median(self.ours)


def compare_file(song: Path, tagger: PeerWorker, http: httpx.Client) -> FileResult:
    """`ROUNDS` alternating runs of musicnn's tagger and POST /tag (a new copy each time) on `song`."""
    variants = iter(song_variants(song, ROUNDS))
    musicnn, ours, difference, duration = [], [], 0.0, 0.0
    for _ in range(ROUNDS):
        seconds, reference = tagger.tag(song)
        musicnn.append(seconds)
        seconds, answer = post_tag(http, next(variants), params={"hop": str(MUSICNN_HOP_SECONDS)})
        ours.append(seconds)
        taggram = np.asarray(http.get(answer["taggram_url"]).raise_for_status().json()["scores"])
        rows = min(len(taggram), len(reference))
        difference = max(difference, float(np.abs(taggram[:rows] - reference[:rows]).max()))
        duration = answer["duration"]
    logger.info(
        "%s: musicnn %.2f s, POST /tag %.2f s", song.name, statistics.median(musicnn), statistics.median(ours)
    )
    return FileResult(song.name, duration, musicnn, ours, difference)


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        songs = real_excerpts(scratch, 30.0) + real_excerpts(scratch, 240.0, count=1)
        tagger = musicnn_tagger(DEFAULT_MODEL)
        try:
            with (
                running_server(scratch / "server") as server,
                httpx.Client(base_url=server.base_url, timeout=600) as http,
            ):
                tagger.tag(songs[0])  # imports, the checkpoint files and librosa's numba compilation
                post_tag(http, song_variants(songs[0], 1)[0])
                results = [compare_file(song, tagger, http) for song in songs]
        finally:
            tagger.close()
    return report(results)


def report(results: list[FileResult]) -> str:
    setup = (
        f"Model: `{DEFAULT_MODEL}` in both (musicnn 0.1.0's checkpoint; ours ported, `training/musicnn.py`). "
        "Files: excerpts of the three real recordings of Debian's `asc-music`, as 44.1 kHz stereo "
        f"192 kbit/s MP3s. Each cell is the median (min–max) of {ROUNDS} runs; the two alternate. The "
        "server runs with its defaults on the same machine; each POST sends a new copy of the file (a "
        "different metadata tag), so none is answered from its store."
    )
    lines = [
        "| file | audio | musicnn's tagger s | POST /tag s | speed-up | max taggram difference |",
        "|---|---|---|---|---|---|",
    ]
    for item in results:
        lines.append(
            f"| {item.name} | {item.seconds_of_audio:.0f} s | {spread(item.musicnn, digits=2)} "
            f"| {spread(item.ours, digits=2)} | {item.speedup:.1f}× | {item.max_difference:.1e} |"
        )
    fits = {name: _fit(results, name) for name in ("musicnn", "ours")}
    cost = (
        "A straight line through the medians (seconds = per call + per audio second × length) splits "
        "each side's cost: musicnn's tagger {:.2f} s per call + {:.1f} ms per audio second; POST /tag "
        "{:.2f} s per call + {:.1f} ms per audio second. The per-call part is musicnn rebuilding its graph "
        "and restoring its checkpoint on every call; the per-second part is decoding and the model, "
        "the same arithmetic on both sides, so the speed-up shrinks towards their ratio as files get longer."
    ).format(fits["musicnn"][0], fits["musicnn"][1] * 1e3, fits["ours"][0], fits["ours"][1] * 1e3)
    (musicnn_call, musicnn_slope), (_, ours_slope) = fits["musicnn"], fits["ours"]
    bound = (musicnn_call + 30 * musicnn_slope) / (30 * ours_slope)
    reference = (
        "A reference row, no longer a target (the peer users would pick is Essentia: see its section). "
        f"Per audio second musicnn's tagger costs {musicnn_slope * 1e3:.1f} ms and we cost "
        f"{ours_slope * 1e3:.1f} ms; its lead cost is {musicnn_call:.1f} s per call, so a 30 s file allows "
        f"at most {bound:.1f}× and long files tend to {musicnn_slope / ours_slope:.1f}×."
    )
    return "\n\n".join([setup, "\n".join(lines), cost, reference])


def _fit(results: list[FileResult], side: str) -> tuple[float, float]:
    """(seconds per call, seconds per audio second) of the least-squares line through the medians."""
    lengths = [item.seconds_of_audio for item in results]
    medians = [statistics.median(getattr(item, side)) for item in results]
    slope, intercept = np.polyfit(lengths, medians, 1)
    return round(float(intercept), 3) + 0.0, float(slope)  # + 0.0: no "-0.00 s" for a zero intercept
