"""Every error a caller can cause, under one root, and the one table that says what each means in HTTP.

The pipeline raises these with a message written for the person who sent the request; the HTTP
service answers `{"detail": message}` with `HTTP_STATUS`, and the batch tools record the message
as the reason a file failed. A class missing from the table fails a test, so no user input can
surface as a 500 or a traceback.
"""

from __future__ import annotations


class TaggerError(Exception):
    """Root of every error caused by input, configuration or load, rather than by a bug."""


class AudioError(TaggerError, ValueError):
    """Audio that cannot become model input; the message says why, for the person who sent it."""


class UndecodableAudioError(AudioError):
    """Not audio, an unsupported format, or too little of it decodes."""


class EmptyAudioError(AudioError):
    """Decoded to no samples at all."""


class AudioTooShortError(AudioError):
    """Shorter than the caller's minimum duration."""


class AudioTooLongError(AudioError):
    """Longer than the caller's maximum duration; raised before the rest is decoded."""


class NonFiniteAudioError(AudioError):
    """Contains NaN or infinite samples (float WAV can)."""


class UploadError(TaggerError, ValueError):
    """The HTTP upload itself is unusable, before any audio is read."""


class NotMultipartError(UploadError):
    """The body is not `multipart/form-data`."""


class MalformedUploadError(UploadError):
    """The multipart body is broken or has no `file` part."""


class UploadTooLargeError(UploadError):
    """The body is larger than TAGGER_MAX_UPLOAD_MB; refused while it streams in."""


class InvalidHopError(TaggerError, ValueError):
    """The requested hop is not usable with the model's window length."""


class UnknownVocabularyError(TaggerError, ValueError):
    """The requested vocabulary is not one the model answers."""


class ModelNotFoundError(TaggerError, LookupError):
    """No model of that name (or no complete version of it) is exported or served."""


class ModelNotReadyError(TaggerError):
    """Models are still loading, or the requested one failed to load."""


class QueueFullError(TaggerError):
    """Too many windows are waiting for the model; the caller should retry later."""


class RequestTimeoutError(TaggerError):
    """Decoding and the model took longer than TAGGER_REQUEST_TIMEOUT_S; the request's work was dropped."""


class StoreUnavailableError(TaggerError):
    """The results database cannot be reached (restarting, network); the caller should retry later."""


class MixedModelsError(TaggerError, ValueError):
    """Results to combine come from different model versions (their vectors are not comparable)."""


class NothingToAggregateError(TaggerError, LookupError):
    """None of the requested results is stored."""


class ResultNotFoundError(TaggerError, LookupError):
    """No stored result has that id."""


class UnknownTagError(TaggerError, ValueError):
    """A tag the model does not have, in a search or a filter."""


class ProfileNotFoundError(TaggerError, LookupError):
    """No profile has that name."""


class EmptyProfileError(TaggerError, ValueError):
    """A profile with no tracks: it has no vector to compare."""


class ProfileModelsError(MixedModelsError):
    """A profile's tracks come from different model versions: its vector would mix incomparable spaces."""


class InputError(TaggerError, ValueError):
    """A batch input that names no tracks, or a manifest that cannot be read."""


class ExportError(TaggerError, ValueError):
    """An export path the batch tools cannot write."""


# Every class above, by the status an HTTP client gets for it. A test checks that each subclass of
# `TaggerError` is listed, so a new error cannot fall through to a 500.
HTTP_STATUS: dict[type[TaggerError], int] = {
    TaggerError: 500,
    AudioError: 422,  # empty, too short, NaN/inf samples
    UndecodableAudioError: 415,
    EmptyAudioError: 422,
    AudioTooShortError: 422,
    AudioTooLongError: 413,
    NonFiniteAudioError: 422,
    UploadError: 400,
    NotMultipartError: 415,
    MalformedUploadError: 422,
    UploadTooLargeError: 413,
    InvalidHopError: 422,
    UnknownVocabularyError: 422,
    ModelNotFoundError: 404,
    ModelNotReadyError: 503,
    QueueFullError: 503,
    RequestTimeoutError: 503,  # overloaded: the same advice as a full queue, retry later
    StoreUnavailableError: 503,
    MixedModelsError: 422,
    NothingToAggregateError: 404,
    ResultNotFoundError: 404,
    UnknownTagError: 422,
    ProfileNotFoundError: 404,
    EmptyProfileError: 422,
    ProfileModelsError: 409,  # conflicts with what the profile claims to be: one identity
    InputError: 400,
    ExportError: 400,
}


def http_status(error: TaggerError) -> int:
    """The status for `error`: its own class's entry, else its nearest listed ancestor's."""
    return next(HTTP_STATUS[cls] for cls in type(error).__mro__ if cls in HTTP_STATUS)
