"""Real recordings for tests, from a Debian package (no committed blobs, nothing from a model hub).

Debian's `asc-music` is the soundtrack of Advanced Strategic Command: three orchestral/electronic
tracks of 5-7 minutes by Michael Kievernagel, GPL-2+, MP3 at 22.05 kHz stereo, a 10 MB package.
`apt-get download` + `dpkg -x` unpack it into `.cache/debian-music` without installing anything,
so it works as root in CI and as a user (only `apt-get update`, run when the package lists are
missing, needs root or sudo). `make debian-music` (part of `make test`) or the first test that
needs the files fetch it once.

Run `python tests/support/debian_music.py` to fetch and list the files.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE = "asc-music"
CACHE_DIR = Path(__file__).resolve().parents[2] / ".cache" / "debian-music"
MUSIC_GLOB = "usr/share/games/asc/music/*.mp3"

log = logging.getLogger(__name__)


def debian_music(cache_dir: Path = CACHE_DIR) -> list[Path]:
    """The package's music files, fetched and unpacked into `cache_dir` on first use."""
    files = sorted(cache_dir.glob(MUSIC_GLOB))
    if not files:
        _fetch(cache_dir)
        files = sorted(cache_dir.glob(MUSIC_GLOB))
    if not files:
        raise FileNotFoundError(f"{PACKAGE} unpacked into {cache_dir} but no {MUSIC_GLOB} is there")
    return files


def _fetch(cache_dir: Path) -> None:
    with tempfile.TemporaryDirectory() as download_dir:
        if _download(download_dir).returncode != 0:
            log.info("%s not in the package lists; running apt-get update", PACKAGE)
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
            _download(download_dir).check_returncode()
        (deb,) = Path(download_dir).glob(f"{PACKAGE}_*.deb")
        cache_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg", "-x", str(deb), str(cache_dir)], check=True)


def _download(directory: str) -> subprocess.CompletedProcess[bytes]:
    # As root, apt warns that its sandbox user cannot write to `directory`; harmless.
    return subprocess.run(["apt-get", "download", "-qq", PACKAGE], cwd=directory, capture_output=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.stdout.write("".join(f"{path}\n" for path in debian_music()))
