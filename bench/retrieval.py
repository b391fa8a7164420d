"""Retrieval quality on real music: are a track's nearest stored tracks from the same soundtrack?

Short excerpts of the free game soundtracks in Debian (`support.debian_music.SOUNDTRACKS`, one
package per composer or game) are tagged by every served model through the core's own path
(decode, windows, model, song record) and indexed as the service indexes them. For each track, the
precision@5 of its 5 nearest tracks (itself and exact duplicates excluded) being from the same
package, by embedding and by tag vector, averaged over tracks; the random baseline is the expected
precision of 5 tracks drawn at random from the others, computed exactly.
"""

from __future__ import annotations

import hashlib
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.report import markdown_table
from bench.songs import real_excerpts
from support.debian_music import SOUNDTRACKS, debian_music
from tagger.errors import AudioError
from tagger.repository import ModelRepository, load_model
from tagger.settings import Runtime
from tagger.similarity import ModelIndex, Space
from tagger.song import TagPlan, build_record, decode_windows

TITLE = "Similarity: same-soundtrack precision@5 on real music"
MODELS_DIR = Path(__file__).resolve().parent.parent / "saved_models"
MODELS = ["MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg"]
TRACKS_PER_PACKAGE = 6
EXCERPT_SECONDS = 12.0
EXCERPT_START_S = 30.0
K = 5


def excerpts(directory: Path) -> dict[Path, str]:
    """{excerpt: package} for the first `TRACKS_PER_PACKAGE` tracks of each soundtrack that ffmpeg reads
    (hyperrogue-music ships a file with a broken Ogg header)."""
    labelled = {}
    for package in SOUNDTRACKS:
        folder = directory / package
        folder.mkdir()
        for track in debian_music(package=package):
            try:
                (excerpt,) = real_excerpts(folder, EXCERPT_SECONDS, start=EXCERPT_START_S, tracks=[track])
            except subprocess.CalledProcessError:
                continue
            labelled[excerpt] = package
            if list(labelled.values()).count(package) == TRACKS_PER_PACKAGE:
                break
    return labelled


def precision_at_k(index: ModelIndex, package_of: dict[str, str], space: Space) -> float:
    return statistics.mean(
        sum(package_of[found.id] == package_of[result_id] for found in index.nearest(
            index.vector(result_id, space), space, K, exclude=[result_id]
        )) / K
        for result_id in index.ids
    )  # fmt: skip


def random_baseline(package_of: dict[str, str]) -> float:
    """Expected precision of any k distinct others: the share of the others from the same package."""
    packages = list(package_of.values())
    return statistics.mean((packages.count(package) - 1) / (len(packages) - 1) for package in packages)


def run() -> str:
    rows = []
    runtime = Runtime(intra_op_threads=1, inter_op_threads=1)
    with tempfile.TemporaryDirectory() as folder:
        labelled = excerpts(Path(folder))
        for name in MODELS:
            version = ModelRepository(MODELS_DIR).resolve(name)
            model, plan = load_model(version.path, runtime), TagPlan.for_model(version.metadata, None)
            index = ModelIndex(version.metadata.tags, version.metadata.embedding_size)
            package_of = {}
            for path, package in labelled.items():
                try:
                    song = decode_windows(path, plan, min_seconds=3.0, max_seconds=None)
                except AudioError:  # a track shorter than the excerpt's start
                    continue
                result_id = hashlib.sha256(path.read_bytes()).hexdigest()[:32]
                predictions = model.predict(song.windows)
                record = build_record(
                    result_id, plan, duration=song.duration, starts=song.starts, predictions=predictions
                )
                index.add([record])
                package_of[result_id] = package
            rows.append(
                [
                    name,
                    f"{precision_at_k(index, package_of, 'embedding'):.3f}",
                    f"{precision_at_k(index, package_of, 'tags'):.3f}",
                    f"{random_baseline(package_of):.3f}",
                ]
            )
    counts = {package: list(package_of.values()).count(package) for package in SOUNDTRACKS}
    table = markdown_table(["model", f"by embedding P@{K}", f"by tags P@{K}", "random baseline"], rows)
    listing = ", ".join(f"{package} {count}" for package, count in counts.items())
    return (
        f"{__doc__.split(chr(10), 1)[1].strip()}\n\n{len(package_of)} excerpts of {EXCERPT_SECONDS:g} s from "
        f"{EXCERPT_START_S:g} s into each track ({listing}).\n\n{table}\n"
    )
