"""POST /tag and the reads after it, over real HTTP against a real uvicorn process and tiny real models.

Every test makes audio of a duration no other test uses, so no result is already in the shared store.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from support.audio_files import make_audio
from support.server_process import ServerProcess
from support.service_helpers import API_KEY, DEFAULT_MODEL, OTHER_MODEL, metric, upload


def test_song_result_is_the_mean_of_its_taggram(client: httpx.Client, tmp_path: Path) -> None:
    song = make_audio(tmp_path / "song.wav", seconds=3.5, sample_rate=44_100, channels=2)
    response = upload(client, song, top_k=3)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["model"] == {"name": DEFAULT_MODEL, "version": 1}
    assert result["duration"] == pytest.approx(3.5, abs=1e-3)
    assert result["n_windows"] == 4  # three full windows and a half-window tail
    assert len(result["scores"]) == len(result["tags"]) == 6 and len(result["embedding"]) == 8

    top = result["top"]
    assert len(top) == 3 and [t["score"] for t in top] == sorted(result["scores"], reverse=True)[:3]
    assert all(result["scores"][result["tags"].index(t["tag"])] == t["score"] for t in top)

    taggram = client.get(result["taggram_url"]).json()
    assert taggram["tags"] == result["tags"] and taggram["times"] == [0.0, 1.0, 2.0, 3.0]
    assert taggram["window_seconds"] == taggram["hop_seconds"] == 1.0
    rows = np.array(taggram["scores"])
    assert rows.shape == (4, 6) and ((rows > 0) & (rows < 1)).all()
    np.testing.assert_allclose(rows.mean(axis=0), result["scores"], atol=1e-5)
    assert np.ptp(rows, axis=0).max() > 1e-4, "windows of different audio should not score identically"

    again = client.get(f"/tags/{result['id']}", params={"top_k": 3})
    assert again.status_code == 200 and again.json() == result


def test_the_same_upload_gets_the_same_id_and_runs_the_model_once(
    client: httpx.Client, tmp_path: Path
) -> None:
    song = make_audio(tmp_path / "twice.flac", seconds=2.2)
    copy = tmp_path / "renamed.flac"
    copy.write_bytes(song.read_bytes())
    windows_before = metric(client, "tagger_windows_inferred_total", model=DEFAULT_MODEL)
    stored_before = metric(client, "tagger_results_total", model=DEFAULT_MODEL, source="store")

    first = upload(client, song).json()
    windows_after_first = metric(client, "tagger_windows_inferred_total", model=DEFAULT_MODEL)
    second = upload(client, copy).json()

    assert second == first
    assert windows_after_first - windows_before == first["n_windows"] == 2
    assert metric(client, "tagger_windows_inferred_total", model=DEFAULT_MODEL) == windows_after_first
    assert metric(client, "tagger_results_total", model=DEFAULT_MODEL, source="store") == stored_before + 1


def test_hop_overlaps_windows_and_is_part_of_the_id(client: httpx.Client, tmp_path: Path) -> None:
    song = make_audio(tmp_path / "hop.wav", seconds=2.0, sample_rate=16_000)
    overlapped = upload(client, song, hop=0.5).json()
    default = upload(client, song).json()
    explicit = upload(client, song, hop=1.0).json()

    assert overlapped["n_windows"] == 4 and overlapped["hop_seconds"] == 0.5
    assert client.get(overlapped["taggram_url"]).json()["times"] == [0.0, 0.5, 1.0, 1.5]
    assert default["n_windows"] == 2
    assert overlapped["id"] != default["id"] == explicit["id"]


@pytest.mark.parametrize(
    ("seconds", "n_windows"),
    [(0.6, 1), (2.4, 2), (2.55, 3)],
    ids=["shorter-than-a-window-padded-once", "short-tail-dropped", "half-window-tail-kept"],
)
def test_window_rules_over_http(client: httpx.Client, tmp_path: Path, seconds: float, n_windows: int) -> None:
    song = make_audio(tmp_path / "clip.wav", seconds=seconds, sample_rate=16_000)
    result = upload(client, song).json()
    assert result["n_windows"] == n_windows
    assert result["duration"] == pytest.approx(seconds, abs=1e-3)


def test_model_parameter_picks_a_model_with_its_own_rate_and_window(
    client: httpx.Client, tmp_path: Path
) -> None:
    song = make_audio(tmp_path / "other.ogg", seconds=2.1, sample_rate=22_050)
    result = upload(client, song, model=OTHER_MODEL).json()
    assert result["model"]["name"] == OTHER_MODEL
    assert result["window_seconds"] == 0.5 and result["n_windows"] == 4


def test_models_lists_every_model_with_its_config_and_device(client: httpx.Client) -> None:
    models = {m["name"]: m for m in client.get("/models").json()}
    assert set(models) == {DEFAULT_MODEL, OTHER_MODEL}
    assert models[DEFAULT_MODEL]["default"] and not models[OTHER_MODEL]["default"]
    assert models[OTHER_MODEL]["frontend"]["sample_rate"] == models[OTHER_MODEL]["sample_rate"] == 8_000
    assert all(m["device"] == "/CPU:0" and m["version"] == 1 and len(m["tags"]) == 6 for m in models.values())


def test_taggram_png_is_a_readable_heatmap(client: httpx.Client, tmp_path: Path) -> None:
    result = upload(client, make_audio(tmp_path / "png.wav", seconds=4.3)).json()
    response = client.get(result["taggram_url"], params={"format": "png"})
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(response.content))
    image.load()
    assert image.width >= 800 and image.height >= 300
    pixels = np.asarray(image.convert("L"))
    assert pixels.std() > 10, "the image should not be blank"


def test_concurrent_requests_are_batched_together(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    # Eight one-window songs: any model call with more than one window merged different requests.
    songs = [make_audio(tmp_path / f"one-{i}.wav", seconds=0.61 + 0.01 * i) for i in range(8)]
    batches_before = metric(client, "tagger_batch_size_count", model=DEFAULT_MODEL)
    singles_before = metric(client, "tagger_batch_size_bucket", model=DEFAULT_MODEL, le="1.0")

    async def post_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=server.base_url, headers={"X-API-Key": API_KEY}, timeout=60
        ) as http:
            return await asyncio.gather(
                *(http.post("/tag", files={"file": (s.name, s.read_bytes())}) for s in songs)
            )

    responses = asyncio.run(post_all())
    assert all(r.status_code == 200 and r.json()["n_windows"] == 1 for r in responses)
    batches = metric(client, "tagger_batch_size_count", model=DEFAULT_MODEL) - batches_before
    singles = metric(client, "tagger_batch_size_bucket", model=DEFAULT_MODEL, le="1.0") - singles_before
    assert batches < len(songs)
    assert batches - singles >= 1


def test_a_slow_upload_does_not_block_other_requests(server: ServerProcess, tmp_path: Path) -> None:
    slow_song = make_audio(tmp_path / "slow.wav", seconds=1.7).read_bytes()
    fast_song = make_audio(tmp_path / "fast.wav", seconds=1.8).read_bytes()
    boundary = "slowboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow.wav"\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()

    async def trickle() -> AsyncIterator[bytes]:
        yield head
        for start in range(0, len(slow_song), len(slow_song) // 6 + 1):
            await asyncio.sleep(0.5)
            yield slow_song[start : start + len(slow_song) // 6 + 1]
        yield tail

    async def race() -> tuple[float, float]:
        headers = {"X-API-Key": API_KEY}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=60) as http:
            started = time.monotonic()

            async def slow() -> float:
                response = await http.post(
                    "/tag",
                    content=trickle(),
                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
                )
                assert response.status_code == 200, response.text
                return time.monotonic() - started

            async def fast() -> float:
                await asyncio.sleep(0.3)  # the slow upload is under way
                response = await http.post("/tag", files={"file": ("fast.wav", fast_song)})
                assert response.status_code == 200, response.text
                return time.monotonic() - started

            slow_seconds, fast_seconds = await asyncio.gather(slow(), fast())
            return slow_seconds, fast_seconds

    slow_done, fast_done = asyncio.run(race())
    assert slow_done >= 3.0 and fast_done < slow_done - 1.0


def test_metrics_count_requests_audio_and_queue(client: httpx.Client, tmp_path: Path) -> None:
    seconds_before = metric(client, "tagger_audio_seconds_total", model=DEFAULT_MODEL)
    requests_before = metric(client, "tagger_http_requests_total", method="POST", route="/tag", status="200")
    upload(client, make_audio(tmp_path / "counted.wav", seconds=2.9, sample_rate=16_000)).raise_for_status()
    assert metric(
        client, "tagger_audio_seconds_total", model=DEFAULT_MODEL
    ) - seconds_before == pytest.approx(2.9)
    assert metric(client, "tagger_http_requests_total", method="POST", route="/tag", status="200") == (
        requests_before + 1
    )
    text = client.get("/metrics").text
    assert f'tagger_queue_depth{{model="{DEFAULT_MODEL}"}} 0.0' in text
    assert "tagger_http_request_duration_seconds_bucket" in text


def server_timing(response: httpx.Response) -> dict[str, float]:
    stages = (entry.strip().split(";dur=") for entry in response.headers["server-timing"].split(","))
    return {name: float(milliseconds) for name, milliseconds in stages}


def test_server_timing_reports_each_stage_of_the_request(client: httpx.Client, tmp_path: Path) -> None:
    song = make_audio(tmp_path / "timed.mp3", seconds=6.0)
    started = time.perf_counter()
    computed = upload(client, song)
    elapsed_ms = 1000 * (time.perf_counter() - started)
    assert computed.status_code == 200
    stages = server_timing(computed)
    assert list(stages) == [
        "upload", "lookup", "decode", "decode-cpu", "model", "pooling", "store", "serialisation"
    ]  # fmt: skip
    assert all(milliseconds >= 0 for milliseconds in stages.values())
    assert stages["decode"] > 0 and stages["model"] > 0
    assert sum(ms for stage, ms in stages.items() if stage != "decode-cpu") < elapsed_ms

    stored = server_timing(upload(client, song))  # answered from the store: no decode, no model
    assert list(stored) == ["upload", "lookup", "serialisation"]
