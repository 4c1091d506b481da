"""Stage artifacts on disk, keyed by the config that made them.

A stage's output lives in ``<root>/<stage>/<key>/`` where the key hashes the stage's declared settings, its
version and the keys of the stages it read (hins.stages.base). A directory counts as finished only when its ``MANIFEST.json``
exists, names that stage and key, and every file matches the size and sha256 recorded there; it is
written in a temporary directory and renamed into place, so a run killed mid-write leaves nothing a
later run would trust. A full disk stops the build with the path (``DiskFullError``), the partial
directory removed; the next run builds the artifact again.

Jobs that need the same artifact at once (a parallel sweep, the processes of a multi-node run) build it once: the
builder holds a claim file ``.<key>.claim`` beside it, created with O_CREAT|O_EXCL (atomic on local disks and on
NFS v3+), naming its host and pid, its mtime refreshed while it builds. The others wait and load the finished
artifact; a claim whose owner died (a process gone on this host) or whose mtime stopped moving (another host) is
taken over.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
MANIFEST = "MANIFEST.json"
_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)
_HOST = re.sub(r"[^A-Za-z0-9_.]", "_", socket.gethostname())[:40] or "host"


class DiskFullError(OSError):
    """The disk (or quota) filled up while writing; the message names the path and the free space."""


def disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in _NO_SPACE


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free bytes on the file system holding ``path`` (or its nearest existing parent)."""
    probe = Path(path).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        return shutil.disk_usage(probe).free
    except OSError:
        return None


def human_bytes(n: float | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


# In the keys of whole runs (a finished job's DONE.json, a resume directory, a test set's id); a stage's artifacts are
# keyed by the stage's own version instead (hins.stages.base.stage_key).
FORMAT_VERSION = 3


def config_key(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts and the format version."""
    blob = json.dumps([FORMAT_VERSION, *parts], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_DIGESTS: dict[tuple[str, int, int, int, int], str] = {}


def cached_sha256(path: Path) -> str:
    """``sha256_file``, computed once per process for a file's (path, inode, size, mtime, ctime): a model's weights
    are hashed once however many artifact keys name them."""
    st = path.stat()
    key = (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_file(path)
    return _DIGESTS[key]


def _files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(directory: Path, meta: dict[str, Any]) -> None:
    files = {str(p.relative_to(directory)): {"bytes": p.stat().st_size, "sha256": sha256_file(p)} for p in _files(directory)}
    (directory / MANIFEST).write_text(json.dumps({"meta": meta, "files": files}, indent=1))


def verify(directory: Path, stage: str | None = None, key: str | None = None) -> str | None:
    """None when the artifact is complete and intact, else the reason it is not.

    Any damage reads as a reason, never as an exception: a missing, unreadable or malformed manifest, a
    manifest of another stage or key (a copied or renamed directory), a file missing, added, truncated or
    edited.
    """
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return "no manifest (unfinished write)"
    try:
        record = json.loads(manifest.read_bytes())
        files = record["files"]
        meta = record.get("meta", {})
        if not isinstance(files, dict) or not isinstance(meta, dict):
            raise TypeError("files and meta must be objects")
        sizes = {name: (int(rec["bytes"]), str(rec["sha256"])) for name, rec in files.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        return f"unreadable manifest: {type(err).__name__}: {err}"
    for field, want in (("stage", stage), ("key", key)):
        if want is not None and meta.get(field) != want:
            return f"the manifest is for {field} {meta.get(field)!r}, not {want!r}"
    present = {str(p.relative_to(directory)) for p in _files(directory)}
    if present != set(sizes):
        return f"files differ from the manifest: {sorted(present ^ set(sizes))[:5]}"
    for name, (size, digest) in sizes.items():
        path = directory / name
        try:
            if path.stat().st_size != size or sha256_file(path) != digest:
                return f"{name} does not match its recorded checksum"
        except OSError as err:
            return f"{name} cannot be read: {err}"
    return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


class _Claim:
    """This process's claim to build one artifact: the file ``.<key>.claim``, created only if absent, holding the
    owner's host, pid and a token; a thread touches it every ``heartbeat`` seconds until it is released."""

    def __init__(self, path: Path, heartbeat: float):
        self.path, self.heartbeat = path, heartbeat
        self.token = f"{_HOST} {os.getpid()} {os.urandom(6).hex()}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    @classmethod
    def take(cls, path: Path, heartbeat: float) -> "_Claim | None":
        claim = cls(path, heartbeat)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return None
        with os.fdopen(fd, "w") as f:
            json.dump({"host": _HOST, "pid": os.getpid(), "token": claim.token}, f)
        claim._thread.start()
        return claim

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                os.utime(self.path)
            except OSError:
                log.warning("the build claim %s was removed by another process while this one holds it", self.path)
                return

    def release(self) -> None:
        self._stop.set()
        self._thread.join()
        if _read_claim(self.path).get("token") == self.token:  # not a claim another process has taken over since
            self.path.unlink(missing_ok=True)


def _read_claim(path: Path) -> dict[str, Any]:
    try:
        return _claim_owner(path.read_bytes())
    except OSError:  # gone
        return {}


def _claim_owner(raw: bytes) -> dict[str, Any]:
    try:
        record = json.loads(raw)
    except ValueError:  # its owner has not written it yet
        return {}
    return record if isinstance(record, dict) else {}


class _ClaimWatch:
    """A waiter's view of another process's claim: stale when its owner is a dead process of this host, or when its
    mtime has not moved for ``stale_after`` seconds of this process's own clock (so clocks of other hosts do not
    matter)."""

    def __init__(self, stale_after: float):
        self.stale_after = stale_after
        self.seen: tuple[Any, float] | None = None

    def stale(self, path: Path) -> str | None:
        try:
            with path.open("rb") as f:  # opening revalidates NFS's cached attributes (close-to-open consistency)
                st = os.fstat(f.fileno())
                owner = _claim_owner(f.read())
        except FileNotFoundError:
            return None
        stamp, pid = (st.st_ino, st.st_mtime_ns), owner.get("pid")
        if owner.get("host") == _HOST and isinstance(pid, int) and pid != os.getpid() and not _pid_alive(pid):
            return f"its owner, process {pid} of this host, is gone"
        now = time.monotonic()
        if self.seen is None or self.seen[0] != stamp:
            self.seen = (stamp, now)
        elif now - self.seen[1] >= self.stale_after:
            return f"its owner ({owner.get('host', '?')}, pid {pid}) has not refreshed it for {self.stale_after:.0f} s"
        return None


class ArtifactStore:
    """``heartbeat``: how often a builder refreshes its claim; ``stale_after``: how long a waiter lets a claim of
    another host go unrefreshed before taking it over; ``poll``: how often a waiter looks for the artifact."""

    def __init__(self, root: str | os.PathLike, heartbeat: float = 10.0, stale_after: float = 120.0, poll: float = 1.0):
        self.root = Path(root)
        self.heartbeat, self.stale_after, self.poll = heartbeat, stale_after, poll

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

        ``build(tmp_dir)`` writes the files and may return extra manifest metadata. A cached artifact that
        fails verification, or that verifies but cannot be loaded (written by an older format), is rebuilt.
        While another process holds the claim to build it, wait for its artifact (or take over a stale claim).
        """
        final = self.path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        claim_path = final.parent / f".{key}.claim"
        watch = _ClaimWatch(self.stale_after)
        while True:
            found, loaded, problem = self._cached(final, stage, key, load)
            if found:
                return loaded
            claim = _Claim.take(claim_path, self.heartbeat)
            if claim is not None:
                break
            if watch.seen is None:
                log.info("stage %s: another process is building %s (%s); waiting for it", stage, final,
                         _read_claim(claim_path).get("token", "claim being written"))
            reason = watch.stale(claim_path)
            if reason is not None:
                log.warning("stage %s: taking over the build claim %s: %s", stage, claim_path, reason)
                claim_path.unlink(missing_ok=True)
                continue
            time.sleep(self.poll)
        try:
            # Finished by the previous claim holder between the look above and taking the claim?
            found, loaded, problem = self._cached(final, stage, key, load)
            if found:
                return loaded
            if problem is not None:
                log.warning("stage %s: cached artifact %s is not usable (%s); rebuilding", stage, final, problem)
                shutil.rmtree(final)
            return self._build(final, stage, key, build, load, meta)
        finally:
            claim.release()

    @staticmethod
    def _cached(final: Path, stage: str, key: str, load: Callable[[Path], T]) -> tuple[bool, Any, str | None]:
        """(True, the loaded artifact, None) when it is finished and loads; else (False, None, why it is not usable,
        or None when there is none)."""
        if not final.exists():
            return False, None, None
        problem = verify(final, stage, key)
        if problem is None:
            try:
                loaded = load(final)
            except Exception as err:  # noqa: BLE001 - any failure to read a cached artifact means: rebuild it
                problem = f"it does not load ({type(err).__name__}: {err})"
            else:
                log.info("stage %s: reusing cached artifact %s", stage, final)
                return True, loaded, None
        return False, None, problem

    def _build(self, final: Path, stage: str, key: str, build: Callable[[Path], dict[str, Any] | None],
               load: Callable[[Path], T], meta: dict[str, Any] | None) -> T:
        self._remove_stale_tmp(final.parent, key)
        tmp = final.parent / f".{key}.tmp-{_HOST}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        log.info("stage %s: building artifact %s", stage, final)
        try:
            tmp.mkdir()
            extra = build(tmp) or {}
            write_manifest(tmp, {"stage": stage, "key": key, **(meta or {}), **extra})
            try:
                os.replace(tmp, final)
            except OSError:
                # Another process finished the same artifact first (a parallel sweep): keep theirs if it is intact.
                if not final.exists() or verify(final, stage, key) is not None:
                    raise
                log.info("stage %s: %s was finished by another process; using it", stage, final)
                shutil.rmtree(tmp, ignore_errors=True)
        except BaseException as err:
            shutil.rmtree(tmp, ignore_errors=True)
            if disk_full(err):
                where = getattr(err, "filename", None) or tmp
                raise DiskFullError(
                    errno.ENOSPC, f"stage {stage}: no space left on the device while writing {where} "
                    f"({human_bytes(free_bytes(final.parent))} free there). The partial artifact was removed; free "
                    "some space or point HINS_CACHE (paths.cache_dir) at a larger disk, and run again: the "
                    "stage is rebuilt", str(where)) from err
            raise
        return load(final)

    @staticmethod
    def _remove_stale_tmp(parent: Path, key: str) -> None:
        """Temporary directories of processes of this machine that died mid-build (a kill, a power cut) are never
        read; remove them. (A cache shared between machines keeps the others': their processes may be alive.)"""
        for tmp in parent.glob(f".{key}.tmp-{_HOST}-*"):
            pid = tmp.name.rsplit("-", 1)[-1]
            if pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
                log.info("removing %s, left by process %s that died while writing it", tmp, pid)
                shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False))


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """Every non-blank line of a JSONL file as an object; a bad line raises ValueError naming file and line."""
    rows = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
                raise ValueError(f"{path}: line {lineno}: not a JSON record ({err})") from err
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {lineno}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    return rows
