"""Stage artifacts on disk, keyed by the config that made them.

A stage's output lives in ``<root>/<stage>/<key>/`` where the key hashes the stage's own config and
the keys of the stages it read. A directory counts as finished only when its ``MANIFEST.json``
exists and every file matches the size and sha256 recorded there; it is written in a temporary
directory and renamed into place, so a run killed mid-write leaves nothing a later run would trust.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
MANIFEST = "MANIFEST.json"


# Bump when a stage's on-disk format or meaning changes, so old caches are not read as new ones.
FORMAT_VERSION = 2  # 2: a last conversation alone joins the previous processing group


def config_key(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (configs and upstream keys) and the format version."""
    blob = json.dumps([FORMAT_VERSION, *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: Path, meta: dict[str, Any]) -> None:
    files = {str(p.relative_to(directory)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in _files(directory)}
    (directory / MANIFEST).write_text(json.dumps({"meta": meta, "files": files}, indent=1))


def verify(directory: Path) -> str | None:
    """None when the artifact is complete and intact, else the reason it is not."""
    manifest = directory / MANIFEST
    if not manifest.exists():
        return "no manifest (unfinished write)"
    try:
        files = json.loads(manifest.read_text())["files"]
    except (ValueError, KeyError) as err:
        return f"unreadable manifest: {err}"
    present = {str(p.relative_to(directory)) for p in _files(directory)}
    if present != set(files):
        return f"files differ from the manifest: {sorted(present ^ set(files))[:5]}"
    for name, rec in files.items():
        path = directory / name
        if path.stat().st_size != rec["bytes"] or sha256_file(path) != rec["sha256"]:
            return f"{name} does not match its recorded checksum"
    return None


class ArtifactStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def path(self, stage: str, key: str) -> Path:
        return self.root / stage / key

    def get_or_build(
        self,
        stage: str,
        key: str,
        build: Callable[[Path], dict[str, Any] | None],
        load: Callable[[Path], T],
        meta: dict[str, Any] | None = None,
    ) -> T:
        """Load the finished artifact, or build it into a temporary directory and move it into place.

        ``build(tmp_dir)`` writes the files and may return extra manifest metadata.
        """
        final = self.path(stage, key)
        if final.exists():
            problem = verify(final)
            if problem is None:
                log.info("stage %s: reusing cached artifact %s", stage, final)
                return load(final)
            log.warning("stage %s: cached artifact %s is not usable (%s); rebuilding", stage, final, problem)
            shutil.rmtree(final)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".{key}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        log.info("stage %s: building artifact %s", stage, final)
        try:
            extra = build(tmp) or {}
            write_manifest(tmp, {"stage": stage, "key": key, **(meta or {}), **extra})
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return load(final)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
