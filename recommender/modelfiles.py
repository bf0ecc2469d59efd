"""The one reload rule for trained model files (ml.modelfiles names them).

Each process loads a model file once and loads it again when the file changes: a `train_*` command
replaces the file atomically (a new file renamed over the old one), so its inode, modification time
or size differ, and the next job that asks gets the new model, in every worker, without a restart.
A file that is removed is noticed the same way. The check is one stat() per call.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
from django.conf import settings
from django.db.models import QuerySet

from ml.modelfiles import ModelFile

T = TypeVar("T")

# What identifies one written file: inode, modification time (ns) and size; None when absent.
FileKey = tuple[int, int, int] | None


def model_path(kind: ModelFile) -> Path:
    """Where `kind` is installed: the model folder (settings.MODEL_DIR) and its registered name."""
    return Path(settings.MODEL_DIR) / kind.name


def file_key(path: Path) -> FileKey:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class InstalledModel(Generic[T]):
    """The model built from one model file, rebuilt when the file changes.

    `load(path)` builds it from the installed file, `load(None)` when there is none (return None
    for "not installed", or a model that works without the file). Thread-safe: one load at a time.
    """

    _UNSET: object = object()

    def __init__(self, kind: ModelFile, load: Callable[[Path | None], T]) -> None:
        self.kind = kind
        self._load = load
        self._lock = threading.Lock()
        self._key: FileKey = None
        self._value: object = self._UNSET

    def get(self) -> T:
        path = model_path(self.kind)
        key = file_key(path)
        with self._lock:
            if self._value is self._UNSET or key != self._key:
                self._value = self._load(path if key is not None else None)
                self._key = key
            return self._value  # type: ignore[return-value]


def projections_store(todo: QuerySet[Any], project: Callable[[np.ndarray], np.ndarray], *, field: str,
                      version_field: str, version: str, batch: int = 2000,
                      progress: Callable[[int], None] | None = None) -> int:
    """Store a trained head's projection of each image's CNN vector (`todo`: images with an
    `embedding`) in `field`, stamped with the head's `version` in `version_field`; returns how
    many. Cost: O(images), `batch` rows per read, one matrix product and one bulk update each;
    keyset-paged by id, so a large collection never sits in memory and a re-run starts clean."""
    model = todo.model
    filled, last = 0, 0
    while True:
        rows = list(todo.filter(pk__gt=last).order_by("pk").only("id", "embedding")[:batch])
        if not rows:
            return filled
        projected = project(np.asarray([row.embedding for row in rows], dtype=np.float32))
        for row, vec in zip(rows, projected, strict=True):
            setattr(row, field, vec.tolist())
            setattr(row, version_field, version)
        model.objects.bulk_update(rows, [field, version_field])
        filled += len(rows)
        last = rows[-1].pk
        if progress is not None:
            progress(len(rows))
