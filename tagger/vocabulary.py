"""One vocabulary of a multi-vocabulary model's result, chosen per request from the same stored scores.

A model that answers several vocabularies in one forward pass (the music student: MSD and MTT) names
its tags "<vocabulary>:<tag>", so a stored result alone says which column is whose: selecting needs
neither the model nor a second inference, and every stored result keeps all columns.
"""

from __future__ import annotations

import dataclasses

from tagger.errors import UnknownVocabularyError
from tagger.predictions import TagRecord

ALL = "all"
SEPARATOR = ":"


def vocabularies(tags: list[str]) -> list[str]:
    """The vocabulary names a tag list carries, in order of first appearance (empty: one plain vocabulary)."""
    return list(dict.fromkeys(tag.split(SEPARATOR, 1)[0] for tag in tags if SEPARATOR in tag))


def vocabulary_columns(tags: list[str], vocabulary: str, *, model_name: str) -> list[int]:
    """The columns of `tags` in `vocabulary` (`all`: every one); raises `UnknownVocabularyError`."""
    if vocabulary == ALL:
        return list(range(len(tags)))
    columns = [i for i, tag in enumerate(tags) if tag.startswith(vocabulary + SEPARATOR)]
    if not columns:
        known = ", ".join([ALL, *vocabularies(tags)])
        raise UnknownVocabularyError(
            f"model {model_name!r} has no vocabulary {vocabulary!r}; it answers: {known}"
        )
    return columns


def select_vocabulary(record: TagRecord, vocabulary: str) -> TagRecord:
    """`record` with only `vocabulary`'s tags, in their stored order (`all`: unchanged)."""
    if vocabulary == ALL:
        return record
    columns = vocabulary_columns(record.tags, vocabulary, model_name=record.model_name)
    return dataclasses.replace(
        record,
        tags=[record.tags[i] for i in columns],
        taggram=record.taggram[:, columns],
        scores=record.scores[columns],
    )
