"""Which files a batch run takes: folders, globs, plain files and manifests (no model, no audio decoding)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batch.inputs import find_tracks
from tagger.errors import InputError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in ("a.mp3", "b.FLAC", "cover.jpg", "sub/c.ogg", "sub/notes.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


def test_a_folder_gives_its_audio_files_recursively_in_order(tree: Path) -> None:
    assert [t.path for t in find_tracks([str(tree)])] == [tree / "a.mp3", tree / "b.FLAC", tree / "sub/c.ogg"]


def test_globs_and_files_are_taken_as_given_and_each_file_counts_once(tree: Path) -> None:
    tracks = find_tracks([str(tree / "*.jpg"), str(tree / "**" / "*.ogg"), str(tree / "a.mp3"), str(tree)])
    assert [t.path.name for t in tracks] == ["cover.jpg", "c.ogg", "a.mp3", "b.FLAC"]


def test_manifests_resolve_paths_against_their_folder_and_keep_their_columns(tree: Path) -> None:
    (tree / "list.txt").write_text("# catalogue\na.mp3\n\nsub/c.ogg\n")
    (tree / "rows.csv").write_text("file,artist\na.mp3,Ana\n/elsewhere/x.wav,Ben\n")
    (tree / "rows.jsonl").write_text(json.dumps({"file": "b.FLAC", "artist": "Ana", "year": 1999}) + "\n")
    assert [t.path for t in find_tracks([str(tree / "list.txt")])] == [tree / "a.mp3", tree / "sub/c.ogg"]
    csv_rows = find_tracks([str(tree / "rows.csv")], path_column="file")
    assert [(t.path, dict(t.fields)) for t in csv_rows] == [
        (tree / "a.mp3", {"artist": "Ana"}),
        (Path("/elsewhere/x.wav"), {"artist": "Ben"}),  # missing files stay: they become recorded failures
    ]
    (jsonl_row,) = find_tracks([str(tree / "rows.jsonl")], path_column="file")
    assert jsonl_row.path == tree / "b.FLAC" and jsonl_row.fields == {"artist": "Ana", "year": "1999"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("rows.csv", "file,artist\na.mp3,Ana\n", "row 1 has no 'audio' or 'path' value"),
        ("rows.jsonl", '{"path": "a.mp3"}\nnot json\n', "not a JSON line"),
        ("rows.jsonl", '["a.mp3"]\n', "row 1 has no 'audio' or 'path' value"),
    ],
)
def test_a_bad_manifest_is_refused_with_the_row_and_reason(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=message):
        find_tracks([str(tmp_path / name)])


def test_an_input_that_names_nothing_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="matches no file"):
        find_tracks([str(tmp_path / "nothing-*.mp3")])
