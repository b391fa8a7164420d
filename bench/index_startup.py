"""The similarity index at start-up: rebuilt from the store (what the service does) against a saved graph.

A real SQLite store is filled with synthetic results shaped like MSD_musicnn's (50 tags, 200-d
embedding, a 60 s song's 20 taggram rows); `SimilarityIndex.catch_up` then reads and indexes them all,
as the server does at start. The saved-graph column restores the same two usearch graphs from files
(what persisting the index would cost instead, before catching up with the newer results).
"""

from __future__ import annotations

import tempfile
from functools import partial
from pathlib import Path

import numpy as np
from usearch.index import Index

from bench.report import markdown_table, measured
from tagger.predictions import TagRecord
from tagger.similarity import SimilarityIndex
from tagger.store import open_store

TITLE = "Similarity index start-up: rebuild from the store vs restore a saved graph"
SIZES = [5_000, 20_000]
TAGS, EMBEDDING, WINDOWS = 50, 200, 20


def fill(path: Path, count: int, rng: np.random.Generator) -> None:
    store = open_store(path)
    tags = [f"tag{i}" for i in range(TAGS)]
    for i in range(count):
        taggram = rng.random((WINDOWS, TAGS), dtype=np.float32)
        store.save(
            TagRecord(
                id=f"{i:032x}",
                model_name="MSD_musicnn",
                model_version=1,
                tags=tags,
                duration=60.0,
                window_seconds=3.0,
                hop_seconds=3.0,
                times=np.arange(WINDOWS) * 3.0,
                taggram=taggram,
                scores=taggram.mean(axis=0),
                embedding=rng.standard_normal(EMBEDDING, dtype=np.float32),
            )
        )
    store.close()


def restore_all(files: list[Path]) -> list[Index | None]:
    return [Index.restore(str(file)) for file in files]


def run() -> str:
    rng = np.random.default_rng(16)
    rows = []
    for count in SIZES:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "tagger.db"
            fill(path, count, rng)
            store = open_store(path)
            index = SimilarityIndex(store)
            rebuild, _ = measured(index.catch_up)
            model = index.models()[("MSD_musicnn", 1)]
            files = []
            for space, graph in model._graphs.items():  # what the index holds
                files.append(Path(folder) / f"{space}.usearch")
                graph.save(str(files[-1]))
            restore, _ = measured(partial(restore_all, files))
            store.close()
        rows.append(
            [
                f"{count:,}",
                f"{rebuild.wall:.1f} s wall, {rebuild.cpu:.1f} s CPU",
                f"{rebuild.wall / count * 1e3:.2f}",
                f"{restore.wall:.2f} s",
            ]
        )
    table = markdown_table(
        ["stored results", "rebuild from the store", "ms per result", "restore saved graphs"], rows
    )
    return f"{__doc__.split(chr(10), 1)[1].strip()}\n\n{table}\n"
