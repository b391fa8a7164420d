"""Catalogue-scale tagging on one machine: `python -m batch tag|aggregate` (see docs/batch.md).

Tracks go through the same path as an upload (`tagger.song`) into the same result store the API
reads, so `GET /taggram/{id}` answers for a batch-tagged track.
"""
