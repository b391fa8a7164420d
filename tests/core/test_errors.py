"""One exception root, one status table: every error a caller can cause has its HTTP status."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tagger
from tagger.errors import HTTP_STATUS, AudioError, TaggerError, UndecodableAudioError, http_status


def all_subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    subclass: type
    for subclass in cls.__subclasses__():
        found |= {subclass} | all_subclasses(subclass)
    return found


@pytest.fixture(scope="module")
def error_classes() -> set[type]:
    """Every subclass of the root, after importing every core module (so none hides in a late import)."""
    for module in pkgutil.iter_modules(tagger.__path__):
        importlib.import_module(f"tagger.{module.name}")
    return all_subclasses(TaggerError)


def test_every_error_class_has_its_own_http_status(error_classes: set[type]) -> None:
    assert len(error_classes) >= 15
    assert not {cls.__name__ for cls in error_classes} - {cls.__name__ for cls in HTTP_STATUS}


def test_no_input_error_is_a_server_error(error_classes: set[type]) -> None:
    statuses = {cls.__name__: HTTP_STATUS[cls] for cls in error_classes}
    assert all(400 <= status < 500 or status == 503 for status in statuses.values()), statuses


def test_the_nearest_listed_class_decides() -> None:
    class Unlisted(UndecodableAudioError):
        pass

    assert http_status(Unlisted("x")) == 415 and http_status(AudioError("x")) == 422
