"""JSON helpers shared by the core: strict encoding, read-only views, plain copies."""

from __future__ import annotations

import gc
import json
import math
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

import orjson

__all__ = ["dumps", "freeze", "gc_paused", "loads", "thaw", "to_json_text"]

_BIG = re.compile(r"\d{19}")
_BIG_BYTES = re.compile(rb"\d{19}")


def loads(text: str | bytes) -> Any:
    """Decode JSON exactly: integers beyond 64 bits stay ints (orjson would make them floats)."""
    if (_BIG.search(text) if isinstance(text, str) else _BIG_BYTES.search(text)):
        return json.loads(text)
    return orjson.loads(text)


class _NotJSON(TypeError):
    """Raised by :func:`to_json_text` with the JSON Pointer of the offending value."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


def _default(value: Any) -> Any:
    # MappingProxyType (an Event's data) and tuples are JSON objects / arrays.
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON-compatible")


def _find_non_finite(value: Any, path: str = "") -> str | None:
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, Mapping):
        for k, v in value.items():
            found = _find_non_finite(v, f"{path}/{str(k).replace('~', '~0').replace('/', '~1')}")
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            found = _find_non_finite(v, f"{path}/{i}")
            if found is not None:
                return found
    return None


def dumps(value: Any) -> bytes:
    """Encode a JSON value compactly; raise TypeError for anything JSON cannot hold."""
    try:
        out = orjson.dumps(value, default=_default)
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
        # Integers beyond 64 bits are valid JSON; the standard library writes them exactly.
        return json.dumps(value, default=_default, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False).encode()
    # orjson writes NaN and infinities as null, silently: refuse them instead.
    if b"null" in out:
        bad = _find_non_finite(value)
        if bad is not None:
            raise TypeError(f"non-finite number at {bad or '/'} is not JSON-compatible")
    return out


def to_json_text(value: Any) -> str:
    """:func:`dumps` as ``str``."""
    return dumps(value).decode()


def freeze(value: Any) -> Any:
    """A read-only top-level view of a payload (dict → mappingproxy, list → tuple)."""
    if isinstance(value, dict):
        return MappingProxyType(value)
    if isinstance(value, list):
        return tuple(value)
    return value


def thaw(value: Any) -> Any:
    """A deep plain-JSON copy of ``value`` (mappings → dict, tuples → list)."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many small objects.

    Decoding a chunk of events allocates hundreds of thousands of dicts and tuples; each
    allocation burst would otherwise trigger full collections over an ever larger heap
    (measured: about 2x slower decoding). Reference counting still frees memory.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
