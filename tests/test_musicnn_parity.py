"""The ported musicnn models tag like musicnn itself, on real recordings and on synthetic music.

musicnn's own extractor runs in a subprocess (tests/musicnn_oracle.py); our models are the
SavedModels `python -m training import-musicnn` exports. They are checked twice: loaded with
TensorFlow alone and fed the way the service feeds them (`load_audio` at 16 kHz, the song padded
with n_fft/2 leading zeros as training/musicnn.py explains, windows of `window_samples` every
47,872 samples, the last one zero-padded), and through the real service: `python -m service` under
uvicorn, POST /tag with the default hop (the model's own, 2.992 s), then GET /taggram/{id}.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import tensorflow as tf

from support.audio_files import make_audio
from support.debian_music import debian_music
from support.musicnn_oracle import oracle_key, run_oracle
from support.server_process import ServerProcess
from tagger.audio import load_audio
from tagger.model_format import ModelMetadata, read_metadata
from training.musicnn import MUSICNN_FRONTEND, MUSICNN_HOP_SAMPLES

pytestmark = pytest.mark.slow

log = logging.getLogger(__name__)

MODELS = ("MSD_musicnn", "MTT_musicnn", "MSD_vgg", "MTT_vgg")
# The acceptance bounds on tag activations, and a bound on the first window's embedding.
MEAN_TOLERANCE = 0.005
MAX_TOLERANCE = 0.02
EMBEDDING_TOLERANCE = 1e-3
TOP_TAGS = 5
HOP_SECONDS = MUSICNN_HOP_SAMPLES / MUSICNN_FRONTEND.sample_rate  # 2.992

# A drum machine with bass and a lead line: kick on the beat, hi-hat noise on eighths.
DRUM_MACHINE = (
    "0.5*sin(2*PI*55*t)*exp(-12*mod(t,0.5))"
    "+0.2*sin(2*PI*(110+55*floor(mod(t,2)*2))*t)"
    "+0.1*sgn(sin(2*PI*(440+110*floor(mod(t,1)*4))*t))*lt(mod(t,0.25),0.15)"
    "+0.05*(2*random(0)-1)*lt(mod(t,0.25),0.03)"
)


def ffmpeg(*arguments: str, target: Path) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *arguments, str(target)], check=True)
    return target


def excerpt(source: Path, target: Path, *, start: float, seconds: float) -> Path:
    return ffmpeg("-ss", str(start), "-t", str(seconds), "-i", str(source), target=target)


def drum_machine(target: Path, *, seconds: float, sample_rate: int) -> Path:
    return ffmpeg(
        "-f", "lavfi", "-i", f"aevalsrc='{DRUM_MACHINE}':s={sample_rate}:d={seconds}", target=target
    )


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two real recordings (Debian's asc-music, 22.05 kHz stereo MP3, cut) and two synthetic songs."""
    directory = tmp_path_factory.mktemp("songs")
    frontiers, machine_wars, _ = debian_music()
    return [
        excerpt(frontiers, directory / "frontiers.wav", start=60, seconds=30),
        excerpt(machine_wars, directory / "machine_wars.flac", start=100, seconds=25.3),
        make_audio(directory / "chord.wav", seconds=20, sample_rate=44_100, channels=2),
        drum_machine(directory / "drums.flac", seconds=23.7, sample_rate=16_000),
    ]


@pytest.fixture(scope="module")
def references(
    songs: list[Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, np.ndarray]]:
    """(our four exported models, musicnn's outputs), made at the same time in two processes.

    The models are ported by the real command, as `make serve` runs it.
    """
    directory = tmp_path_factory.mktemp("references")
    output, log = directory / "saved_models", directory / "import.log"
    with log.open("wb") as log_file:
        command = [sys.executable, "-m", "training", "import-musicnn", "--output", str(output)]
        export = subprocess.Popen(command, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        expected = run_oracle(songs, list(MODELS), directory / "musicnn.npz")
    finally:
        returncode = export.wait()
    assert returncode == 0, log.read_text()
    return output, expected


def musicnn_windows(waveform: np.ndarray, metadata: ModelMetadata, num_windows: int) -> np.ndarray:
    lead = metadata.frontend.n_fft // 2
    padded = np.pad(waveform, (lead, metadata.window_samples))
    starts = np.arange(num_windows) * MUSICNN_HOP_SAMPLES
    return np.stack([padded[start : start + metadata.window_samples] for start in starts])


def port_outputs(version_dir: Path, songs: list[Path], num_windows: list[int]) -> list[dict[str, np.ndarray]]:
    metadata = read_metadata(version_dir)
    serve = tf.saved_model.load(str(version_dir)).signatures["serving_default"]
    outputs = []
    for song, count in zip(songs, num_windows, strict=True):
        waveform = load_audio(song, sample_rate=metadata.sample_rate)
        result = serve(waveform=tf.constant(musicnn_windows(waveform, metadata, count)))
        outputs.append({name: value.numpy() for name, value in result.items()})
    return outputs


def top_tags(taggram: np.ndarray) -> list[int]:
    """musicnn's song-level tags: the highest mean activations over the taggram."""
    return list(np.argsort(-taggram.mean(axis=0))[:TOP_TAGS])


def assert_same_taggram(ours: np.ndarray, expected: np.ndarray, label: str) -> None:
    difference = np.abs(ours - expected)
    measured = (
        f"{label}: mean {difference.mean():.1e}, max {difference.max():.1e} ({difference.size} activations)"
    )
    log.info(measured)
    assert difference.mean() <= MEAN_TOLERANCE and difference.max() <= MAX_TOLERANCE, measured
    assert top_tags(ours) == top_tags(expected), measured


@pytest.mark.parametrize("model", MODELS)
def test_port_gives_musicnn_taggram_and_embedding(
    model: str, songs: list[Path], references: tuple[Path, dict[str, np.ndarray]]
) -> None:
    exported, oracle = references
    expected = [oracle[oracle_key(model, index, "taggram")] for index in range(len(songs))]
    ours = port_outputs(exported / model / "1", songs, [len(taggram) for taggram in expected])
    for index, song in enumerate(songs):
        samples = load_audio(song, sample_rate=16_000).size
        # musicnn keeps every whole 187-frame patch of its 1 + samples // 256 frames.
        assert len(expected[index]) == 1 + (samples // 256 - 186) // 187

        assert_same_taggram(ours[index]["scores"], expected[index], f"{model} on {song.name}")
        np.testing.assert_allclose(
            ours[index]["embedding"][0],
            oracle[oracle_key(model, index, "embedding")],
            atol=EMBEDDING_TOLERANCE,
        )


def test_http_api_serves_musicnn_taggrams(
    songs: list[Path], references: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    exported, oracle = references
    settings = {"TAGGER_MODELS_DIR": str(exported), "TAGGER_DB": str(tmp_path / "tagger.db")}
    server = ServerProcess(settings, tmp_path / "server.log").start()
    try:
        with httpx.Client(base_url=server.base_url, timeout=120) as client:
            for index, song in enumerate(songs):
                with song.open("rb") as file:
                    response = client.post(
                        "/tag",
                        params={"model": "MSD_musicnn"},  # the default hop is musicnn's
                        files={"file": (song.name, file)},
                    )
                assert response.status_code == 200, response.text
                taggram = client.get(response.json()["taggram_url"]).raise_for_status().json()

                expected = oracle[oracle_key("MSD_musicnn", index, "taggram")]
                # The service may add one zero-padded window at the end, which musicnn drops.
                assert len(expected) <= len(taggram["scores"]) <= len(expected) + 1
                ours = np.array(taggram["scores"])[: len(expected)]
                np.testing.assert_allclose(
                    taggram["times"][: len(expected)], np.arange(len(expected)) * HOP_SECONDS
                )
                assert_same_taggram(ours, expected, f"MSD_musicnn over HTTP on {song.name}")
    finally:
        server.stop()
