"""`python -m training evaluate` scores exactly the windows `POST /tag` scores, for the same file and model.

The two run as their own processes, as users run them: the evaluation command on a manifest, and
the real server over HTTP. Two front ends: a ported musicnn (no per-window centring: the song is
centred once, and its default hop is musicnn's 187 frames) and an exported Music Tagging Transformer
(centring front end). A window cut or padded differently on one side shows up as a score difference.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import keras
import numpy as np
import pytest

from support.audio_files import make_audio
from support.batch_helpers import REPO
from support.debian_music import debian_music
from support.server_process import ServerProcess
from tagger.model_format import read_metadata
from training.export import export_untrained

pytestmark = pytest.mark.slow

# Per serving engine. TensorFlow runs the very graph evaluation runs. OpenVINO agrees with it within
# 4e-7 on the musicnn/vgg ports, but within only ~2.6e-5 on transformer_tiny (dB front end, then
# attention): the one known gap to the 1e-5 bound (an xfail in tests/engines/test_engine_parity.py).
TOLERANCE = {"tensorflow": 1e-5, "openvino": 5e-5}
MUSICNN = "MSD_musicnn"
TRANSFORMER = "transformer_tiny"


@pytest.fixture(scope="module")
def parity_models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("parity_models")
    musicnn = REPO / "saved_models" / MUSICNN
    if not musicnn.is_dir():
        raise FileNotFoundError(f"{musicnn} is missing: run `make models`")
    (directory / MUSICNN).symlink_to(musicnn, target_is_directory=True)
    keras.utils.set_random_seed(3)
    export_untrained(TRANSFORMER, directory, num_tags=8)
    return directory


@pytest.fixture(scope="module")
def song(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """19.3 s of a real recording (Debian's asc-music), re-encoded to Ogg Vorbis at 44.1 kHz stereo."""
    target = tmp_path_factory.mktemp("parity_song") / "excerpt.ogg"
    source = debian_music()[0]
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-ss", "40", "-t", "19.3", "-i", str(source)]
        + ["-ar", "44100", "-ac", "2", "-c:a", "libvorbis", str(target)],
        check=True,
    )
    return target


@pytest.fixture(scope="module", params=["tensorflow", "openvino"])
def server(
    parity_models: Path, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[ServerProcess]:
    directory = tmp_path_factory.mktemp("parity_server")
    settings = {
        "TAGGER_ENGINE": request.param,
        "TAGGER_MODELS_DIR": str(parity_models),
        "TAGGER_DEFAULT_MODEL": MUSICNN,
        "TAGGER_DB": str(directory / "tagger.db"),
    }
    process = ServerProcess(settings, directory / "server.log").start()
    yield process
    process.stop()


def evaluated_windows(version_dir: Path, song: Path, scratch: Path) -> np.ndarray:
    """The song's window scores as the evaluation command writes them (beside a second, negative song)."""
    manifest, predictions = scratch / "manifest.csv", scratch / "predictions.jsonl"
    other = make_audio(scratch / "other.wav", seconds=7.0)
    first_tag = read_metadata(version_dir).tags[0]  # one tag with a positive and a negative: scorable
    manifest.write_text(f"audio,tags,group\n{song},{first_tag},a\n{other},,b\n")
    command = [sys.executable, "-m", "training", "evaluate", "--model", str(version_dir)]
    command += ["--manifest", str(manifest), "--predictions", str(predictions)]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    row, _ = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert row["audio"] == str(song)
    return np.array(row["window_scores"])


@pytest.mark.parametrize("model", [MUSICNN, TRANSFORMER])
def test_evaluation_and_the_api_score_the_same_windows(
    model: str, parity_models: Path, song: Path, server: ServerProcess, tmp_path: Path
) -> None:
    evaluated = evaluated_windows(parity_models / model / "1", song, tmp_path)
    with httpx.Client(base_url=server.base_url, timeout=120) as http, song.open("rb") as file:
        tagged = http.post("/tag", params={"model": model}, files={"file": (song.name, file)})
        assert tagged.status_code == 200, tagged.text
        served = np.array(http.get(tagged.json()["taggram_url"]).raise_for_status().json()["scores"])
    assert served.shape == evaluated.shape and len(served) >= 5
    tolerance = TOLERANCE[server.env["TAGGER_ENGINE"]]
    np.testing.assert_allclose(evaluated, served, atol=tolerance, rtol=0)
    np.testing.assert_allclose(evaluated.mean(axis=0), tagged.json()["scores"], atol=tolerance, rtol=0)
