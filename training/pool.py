"""The real unlabelled pool: game soundtracks from Debian packages, one package per group.

`apt-get download` + `dpkg -x` unpack each package under `<root>/extracted/<package>` without
installing anything (ufoai-music's zip `.pk3` is unpacked too). Only the package's music folder is
read, never its sound effects. Each package's licence is read from its `copyright` file. The
manifest's group is the package, so a split by group keeps every package whole: valid and test
music is by other composers and games than the training music.
"""

from __future__ import annotations

import logging
import re
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tagger.tracks import AUDIO_SUFFIXES, Track
from training.dataset import Splits, split_by_group

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PoolPackage:
    """A Debian package and where its music lies inside it (a glob, relative to the unpacked root)."""

    name: str
    music_glob: str
    archive: str = ""  # a zip inside the package that holds the music (ufoai's .pk3)


PACKAGES = (
    PoolPackage("warzone2100-music", "usr/share/games/warzone2100/music/**/*"),
    PoolPackage("ufoai-music", "pk3/music/**/*", archive="usr/share/games/ufoai/base/0music.pk3"),
    PoolPackage("planetblupi-music-ogg", "usr/share/planetblupi/music/*"),
    PoolPackage("supertux-data", "usr/share/games/supertux2/music/**/*"),
    PoolPackage("widelands-data", "usr/share/games/widelands/data/music/*"),
    PoolPackage("colobot-common-sounds", "usr/share/games/colobot/music/*"),
    PoolPackage("hyperrogue-music", "usr/share/hyperrogue/music/*"),
    PoolPackage("pushover-data", "usr/share/pushover/themes/*.ogg"),
    PoolPackage("asc-music", "usr/share/games/asc/music/*"),
)
# Splitting 9 packages by track count at these fractions (seed 0) leaves 5 packages to train on.
VALID_FRACTION = 0.15
TEST_FRACTION = 0.2
SPLIT_SEED = 0


def fetch_pool(root: Path, packages: tuple[PoolPackage, ...] = PACKAGES) -> list[Track]:
    """Download and unpack every package once (reruns reuse what is there); one track per music file."""
    tracks: list[Track] = []
    for package in packages:
        unpacked = unpack(package, root)
        files = sorted(
            path
            for path in unpacked.glob(package.music_glob)
            if path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES
        )
        if not files:
            raise FileNotFoundError(f"{package.name}: no audio matches {package.music_glob} in {unpacked}")
        log.info("%s: %d music files", package.name, len(files))
        tracks += [Track(audio=str(path), group=package.name) for path in files]
    return tracks


def unpack(package: PoolPackage, root: Path) -> Path:
    """`<root>/extracted/<package>`, downloaded and unpacked unless a previous run finished it."""
    target = root / "extracted" / package.name
    done = target / ".unpacked"
    if done.exists():
        return target
    debs = root / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob(f"{package.name}_*.deb")):
        # As root, apt warns that its sandbox user cannot write here; harmless.
        subprocess.run(["apt-get", "download", "-qq", package.name], cwd=debs, check=True)
    (deb,) = debs.glob(f"{package.name}_*.deb")
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["dpkg", "-x", str(deb), str(target)], check=True)
    if package.archive:
        with zipfile.ZipFile(target / package.archive) as archive:
            archive.extractall(target / "pk3")
    done.touch()
    return target


def licence(package: str, root: Path) -> str:
    """The distinct `License:` names of an unpacked package's machine-readable copyright file."""
    copyright_file = root / "extracted" / package / "usr/share/doc" / package / "copyright"
    names = re.findall(r"^License:\s*(\S.*)$", copyright_file.read_text(errors="replace"), re.MULTILINE)
    return ", ".join(dict.fromkeys(name.strip() for name in names)) or "see copyright file"


def subsample(tracks: list[Track], per_group: int) -> list[Track]:
    """At most `per_group` tracks of each package, evenly spaced in path order (albums, not one album)."""
    by_group: dict[str, list[Track]] = {}
    for track in sorted(tracks, key=lambda t: t.audio):
        by_group.setdefault(track.group, []).append(track)
    return [
        group[i]
        for group in by_group.values()
        for i in np.unique(np.linspace(0, len(group) - 1, min(per_group, len(group))).round().astype(int))
    ]


def split_pool(tracks: list[Track]) -> Splits:
    """Whole packages to train/valid/test; building `Splits` asserts no package or file is in two."""
    return split_by_group(tracks, valid_fraction=VALID_FRACTION, test_fraction=TEST_FRACTION, seed=SPLIT_SEED)
