"""Backup and restore of one install: the database (pg_dump custom format), the media folder
(artwork images) and the model files, in one uncompressed tar (images and the dump are already
compressed).

The PostgreSQL client programs come from the embedded server's own install (pgserver's
pginstall/bin, the server's major version), or from PATH for a database configured by
DATABASE_URL. Costs: pg_dump/pg_restore read or write every row once; files are copied once.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, connections
from django.utils import timezone

FORMAT = "artsearch-backup-1"


@dataclass
class BackupReport:
    path: Path
    database_bytes: int
    media_files: int
    model_files: int


def _pg_program(name: str) -> str:
    import pgserver

    bundled = Path(pgserver.__file__).parent / "pginstall" / "bin" / name
    if not os.getenv("DATABASE_URL") and bundled.exists():
        return str(bundled)
    found = shutil.which(name) or (str(bundled) if bundled.exists() else None)
    if found is None:
        raise RuntimeError(f"{name} not found: install the PostgreSQL client programs")
    return found


def _pg_args() -> tuple[list[str], dict[str, str]]:
    """Connection arguments and environment for pg_dump/pg_restore, from Django's settings."""
    db = connection.settings_dict
    args = ["--dbname", str(db["NAME"])]
    if db.get("HOST"):
        args += ["--host", str(db["HOST"])]
    if db.get("PORT"):
        args += ["--port", str(db["PORT"])]
    if db.get("USER"):
        args += ["--username", str(db["USER"])]
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    return args, env


def _run(cmd: list[str], env: dict[str, str]) -> None:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def backup_create(path: Path, *, models: bool = True) -> BackupReport:
    """Write database + media (+ model files) to the tar at `path` (written beside, then renamed)."""
    path = Path(path)
    args, env = _pg_args()
    with tempfile.TemporaryDirectory() as tmp:
        dump = Path(tmp) / "database.dump"
        _run([_pg_program("pg_dump"), "--format=custom", "--no-owner", "--file", str(dump), *args], env)
        media, model_dir = Path(settings.MEDIA_ROOT), Path(settings.MODEL_DIR)
        media_files, model_files = _files(media), _files(model_dir) if models else []
        manifest = {"format": FORMAT, "created": timezone.now().isoformat(), "database": str(args[1]),
                    "media_files": len(media_files), "model_files": len(model_files)}
        partial = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        with tarfile.open(partial, "w") as tar:
            info = tarfile.TarInfo("manifest.json")
            body = json.dumps(manifest, indent=1).encode()
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
            tar.add(dump, "database.dump")
            for f in media_files:
                tar.add(f, f"media/{f.relative_to(media)}")
            for f in model_files:
                tar.add(f, f"models/{f.relative_to(model_dir)}")
        os.replace(partial, path)
        return BackupReport(path, dump.stat().st_size, len(media_files), len(model_files))


def backup_restore(path: Path, *, models: bool = True) -> BackupReport:
    """Replace the database's contents with the backup's and copy its media (and model files)
    back in place (files of the same name are overwritten, others left alone). The database
    restore runs in one transaction: on an error nothing changes."""
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(path) as tar:
        tar.extractall(tmp, filter="data")  # refuses absolute paths and `..`
        root = Path(tmp)
        manifest = json.loads((root / "manifest.json").read_text())
        if manifest.get("format") != FORMAT:
            raise ValueError(f"{path} is not an ArtSearch backup")
        connections.close_all()  # no open transaction of ours holds a lock the restore needs
        args, env = _pg_args()
        _run([_pg_program("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              *args, str(root / "database.dump")], env)
        copied = {"media": 0, "models": 0}
        targets = {"media": Path(settings.MEDIA_ROOT), "models": Path(settings.MODEL_DIR) if models else None}
        for part, target in targets.items():
            if target is None:
                continue
            for f in _files(root / part):
                dest = target / f.relative_to(root / part)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(f, dest.with_name(dest.name + ".partial"))
                os.replace(dest.with_name(dest.name + ".partial"), dest)
                copied[part] += 1
        return BackupReport(Path(path), (root / "database.dump").stat().st_size, copied["media"], copied["models"])
