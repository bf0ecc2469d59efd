"""The trained model files: their names, one way to write and read them, one version stamp.

Every head the app trains is one torch file in the model folder (the app's ``MODEL_DIR``),
registered in :data:`MODEL_FILES` with its file name, the ``format`` tag its payload carries and
the ``manage.py`` command that trains it. Adding a head takes one :class:`ModelFile` line here,
:func:`save_head` in its ``save`` and :func:`load_head` + :func:`check_version` in its ``load``.

- :func:`save_head` writes atomically (a temporary file in the same folder, then a rename), so a
  process that reloads the file sees the old head or the new one, never half of one; it stamps the
  payload with the head's version.
- :func:`load_head` reads with ``weights_only`` (no pickled code runs) and raises
  :class:`ModelFileError`, naming the file and the command that rebuilds it, for a file that is
  missing, truncated or corrupt, of another kind, or written by a newer layout.
- :func:`content_version` is the one version rule: a short sha256 of the head's identity (its
  configuration, classes, vocabulary, normalisation: whatever besides the weights decides its
  output) followed by every weight tensor. The stamp is checked on load (:func:`check_version`),
  and stored vectors carry it (``ArtworkImage.model_version``, ``joint_version``), so vectors made
  by another head are never compared with this one's.

Framework-free; torch is imported inside the functions that need it, so the web process can read
the registry without loading torch.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = [
    "CAM_HEAD",
    "CAPTIONER",
    "JOINT",
    "MODEL_FILES",
    "SIMILARITY",
    "TURNS",
    "ModelFile",
    "ModelFileError",
    "check_version",
    "content_version",
    "load_head",
    "load_torch_file",
    "save_head",
    "save_torch_file",
]

# Characters of the sha256 hex digest kept as a version: 48 bits, no collision among a few heads.
VERSION_CHARS = 12


@dataclass(frozen=True)
class ModelFile:
    """One kind of trained model file."""

    name: str  # file name in the model folder
    format: str  # the payload's "format" tag; a new layout gets a new tag
    what: str  # how messages name it
    command: str  # the manage.py command that trains it (and so rebuilds a bad file)


CAM_HEAD = ModelFile("cam_head.pt", "artsearch-cam-head/1", "CAM head", "train_cam_head")
CAPTIONER = ModelFile("captioner.pt", "artsearch-captioner/1", "captioner", "train_captioner")
JOINT = ModelFile("joint.pt", "artsearch-joint/1", "joint projection", "train_joint")
SIMILARITY = ModelFile("similarity.pt", "artsearch-similarity/1", "similarity projection", "train_similarity")
TURNS = ModelFile("turns.pt", "artsearch-turns/1", "turn maps", "train_turns")
MODEL_FILES: tuple[ModelFile, ...] = (CAM_HEAD, CAPTIONER, JOINT, SIMILARITY, TURNS)


class ModelFileError(ValueError):
    """A model file that cannot be used as it is; the message says which file and how to rebuild it."""


def _rebuild(kind: ModelFile) -> str:
    return f"train it again with `python manage.py {kind.command}`"


# --------------------------------------------------------------------------- #
# Bytes on disk
# --------------------------------------------------------------------------- #


def save_torch_file(obj: object, path: str | os.PathLike[str]) -> bytes:
    """``torch.save`` to a temp file in the same directory, then rename: never half-written.
    Returns the bytes written."""
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    data = buf.getvalue()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; the web and worker users must be able to read it.
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return data


def _read(path: str | os.PathLike[str], map_location: str | torch.device) -> tuple[object, bytes]:
    """(payload, file bytes); weights_only, so loading runs no pickled code."""
    import torch

    data = Path(path).read_bytes()
    return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True), data


def load_torch_file(
    path: str | os.PathLike[str], *, fmt: str, what: str, map_location: str | torch.device = "cpu"
) -> tuple[dict[str, Any], bytes]:
    """(payload, file bytes) of a file written by :func:`save_torch_file` whose payload says
    ``format: fmt``. ValueError otherwise."""
    payload, data = _read(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path}: not a {what} file ({fmt})")
    return payload, data


# --------------------------------------------------------------------------- #
# Heads
# --------------------------------------------------------------------------- #


def content_version(state: Mapping[str, Any], identity: str | bytes) -> str:
    """The version of a head: sha256 of ``identity`` then, in key order, each weight's name and
    raw bytes; the first :data:`VERSION_CHARS` hex characters. Cost: one pass over the weights."""
    h = hashlib.sha256(identity.encode("utf-8") if isinstance(identity, str) else identity)
    for key in sorted(state):
        h.update(key.encode("utf-8"))
        h.update(np.ascontiguousarray(state[key].detach().cpu().numpy()).tobytes())
    return h.hexdigest()[:VERSION_CHARS]


def save_head(kind: ModelFile, path: str | os.PathLike[str], payload: Mapping[str, Any], *, version: str) -> None:
    """Write a head's payload (its configuration and ``state_dict``) atomically, tagged with
    ``kind.format`` and stamped with ``version`` (:func:`content_version`)."""
    if "state_dict" not in payload:
        raise ValueError(f"a {kind.what} payload needs its state_dict")
    save_torch_file({**payload, "format": kind.format, "version": version}, path)


def load_head(kind: ModelFile, path: str | os.PathLike[str], *, map_location: str | torch.device = "cpu"
              ) -> dict[str, Any]:
    """The payload of a ``kind`` file, read safely (weights_only). ModelFileError for a file
    that is missing, cannot be read as a torch file, or is not a ``kind`` file."""
    try:
        payload, _ = _read(path, map_location)
    except FileNotFoundError as exc:
        raise ModelFileError(f"{path}: no {kind.what} file; {_rebuild(kind)}") from exc
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError, zipfile.BadZipFile) as exc:
        raise ModelFileError(f"{path}: not a readable {kind.what} file (truncated or corrupt: {exc}); "
                             f"{_rebuild(kind)}") from exc
    found = payload.get("format") if isinstance(payload, dict) else None
    if not isinstance(payload, dict) or found != kind.format:
        said = f"its format is {found!r}" if found else "it has no format tag"
        raise ModelFileError(f"{path}: not a {kind.what} file ({kind.format}): {said}; {_rebuild(kind)}")
    if not isinstance(payload.get("state_dict"), Mapping):
        raise ModelFileError(f"{path}: a {kind.what} file without weights; {_rebuild(kind)}")
    return payload


def check_version(kind: ModelFile, path: str | os.PathLike[str], payload: Mapping[str, Any], version: str) -> None:
    """Refuse a file whose content does not hash to the version stamped in it: its weights or
    configuration were changed or damaged after it was written."""
    if payload.get("version") != version:
        raise ModelFileError(f"{path}: its content does not match its version stamp "
                             f"({payload.get('version')!r}, content {version!r}): the file is corrupt; "
                             f"{_rebuild(kind)}")
