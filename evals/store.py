"""Run directories, append-only records, atomic files and the response cache.

Results are never lost: a record is appended (and flushed) as each item completes; a run killed
mid-write leaves at most one torn last line, which the next run drops before resuming.
"""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterable


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write_text(path: Path, text: str) -> None:
    """Write to a temp file in the same folder, fsync, rename: readers see old or new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), 0o666 & ~_UMASK)  # mkstemp's 0600 would hide reports from a web server
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")


class RecordLog:
    """records.jsonl: one JSON line per finished (task, item), appended as it completes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self._load()
        self._fh = self.path.open("a", encoding="utf-8")

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        good_end = 0
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            if nl < 0:
                break  # a torn last line without newline: dropped
            line = data[pos:nl]
            try:
                rec = json.loads(line)
                self.records[(rec["task"], rec["item_id"])] = rec
                good_end = nl + 1
            except (json.JSONDecodeError, KeyError, TypeError):
                break  # a torn or corrupt line: keep everything before it
            pos = nl + 1
        if good_end < len(data):
            with self.path.open("r+b") as fh:
                fh.truncate(good_end)
        failed = [key for key, rec in self.records.items() if rec.get("error")]
        if failed:  # items whose requests failed are tried again: drop their records, keep the rest
            for key in failed:
                del self.records[key]
            atomic_write_text(self.path, "".join(json.dumps(r, ensure_ascii=False) + "\n"
                                                 for r in self.records.values()))

    def done(self, task: str, item_id: str) -> bool:
        return (task, item_id) in self.records

    def append(self, record: dict[str, Any]) -> None:
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        self.records[(record["task"], record["item_id"])] = record

    def sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self.sync()
            self._fh.close()

    def for_task(self, task: str) -> list[dict[str, Any]]:
        return [r for (t, _), r in self.records.items() if t == task]


class ResponseCache:
    """Responses keyed by (model fingerprint, request hash), shared by every run on this machine.

    SQLite in WAL mode: many readers, one writer, and a commit per batch so a killed run keeps all
    the batches it finished.
    """

    def __init__(self, path: Path, enabled: bool = True) -> None:
        self.enabled = enabled
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if enabled:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (model TEXT, request TEXT, response TEXT, "
                "PRIMARY KEY (model, request))"
            )
            self._db.commit()

    def get_many(self, model: str, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
        if not self._db:
            return {}
        keys = list(keys)
        out: dict[str, dict[str, Any]] = {}
        with self._lock:
            for i in range(0, len(keys), 500):
                chunk = keys[i : i + 500]
                rows = self._db.execute(
                    f"SELECT request, response FROM responses WHERE model=? AND request IN ({','.join('?' * len(chunk))})",
                    [model, *chunk],
                ).fetchall()
                out.update({k: json.loads(v) for k, v in rows})
        return out

    def put_many(self, model: str, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        if not self._db:
            return
        with self._lock:
            self._db.executemany(
                "INSERT OR REPLACE INTO responses VALUES (?, ?, ?)",
                [(model, k, json.dumps(v, ensure_ascii=False)) for k, v in items],
            )
            self._db.commit()

    def close(self) -> None:
        if self._db:
            self._db.close()
            self._db = None
