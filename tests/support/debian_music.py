"""Real recordings for tests, from Debian packages (no committed blobs, nothing from a model hub).

The default, Debian's `asc-music`, is the soundtrack of Advanced Strategic Command: three
orchestral/electronic tracks of 5-7 minutes by Michael Kievernagel, GPL-2+, MP3 at 22.05 kHz stereo,
a 10 MB package.
`apt-get download` + `dpkg -x` unpack it into `.cache/debian-music` without installing anything,
so it works as root in CI and as a user (only `apt-get update`, run when the package lists are
missing, needs root or sudo). `make debian-music` (part of `make test`) or the first test that
needs the files fetch it once. Other packages (game soundtracks: `SOUNDTRACKS`) unpack into the same
folder, each under its own paths; `debian_music(package=..., pattern=...)` fetches one on first use.

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
# Free game soundtracks in Debian 12 (OGG/Opus/MP3), each with the glob of its music inside the package
# (ufoai-music is left out: its music sits inside a zip archive, `music.pk3`).
SOUNDTRACKS: dict[str, str] = {
    PACKAGE: MUSIC_GLOB,
    "warzone2100-music": "usr/share/games/warzone2100/music/albums/*/*.opus",
    "planetblupi-music-ogg": "usr/share/planetblupi/music/*.ogg",
    "supertux-data": "usr/share/games/supertux2/music/*/*.ogg",
    "widelands-data": "usr/share/games/widelands/data/music/*.ogg",
    "colobot-common-sounds": "usr/share/games/colobot/music/*.ogg",
    "hyperrogue-music": "usr/share/hyperrogue/music/*.ogg",
    "pushover-data": "usr/share/pushover/themes/*.ogg",
}

log = logging.getLogger(__name__)


def debian_music(
    cache_dir: Path = CACHE_DIR, *, package: str = PACKAGE, pattern: str | None = None
) -> list[Path]:
    """`package`'s music (`pattern`, by default from `SOUNDTRACKS`), unpacked into `cache_dir` if missing."""
    pattern = pattern or SOUNDTRACKS[package]
    files = sorted(cache_dir.glob(pattern))
    if not files:
        _fetch(cache_dir, package)
        files = sorted(cache_dir.glob(pattern))
    if not files:
        raise FileNotFoundError(f"{package} unpacked into {cache_dir} but no {pattern} is there")
    return files


def _fetch(cache_dir: Path, package: str) -> None:
    with tempfile.TemporaryDirectory() as download_dir:
        if _download(download_dir, package).returncode != 0:
            log.info("%s not in the package lists; running apt-get update", package)
            sudo = [] if os.geteuid() == 0 else ["sudo"]
            subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True)
            _download(download_dir, package).check_returncode()
        (deb,) = Path(download_dir).glob(f"{package}_*.deb")
        cache_dir.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg", "-x", str(deb), str(cache_dir)], check=True)


def _download(directory: str, package: str) -> subprocess.CompletedProcess[bytes]:
    # As root, apt warns that its sandbox user cannot write to `directory`; harmless.
    return subprocess.run(["apt-get", "download", "-qq", package], cwd=directory, capture_output=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    sys.stdout.write("".join(f"{path}\n" for path in debian_music()))
