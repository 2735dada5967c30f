"""Identities that make reports comparable: content hashes of suites and weights, the environment."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any, Iterable

from evals.paths import cache_dir

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth")


def sha256_file(path: Path) -> str:
    """sha256 of a file, cached by (path, size, mtime) so a 100 MB model is hashed once."""
    st = path.stat()
    index = cache_dir() / "file-hashes.json"
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    try:
        known = json.loads(index.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return known[key]
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    value = digest.hexdigest()
    known[key] = value
    from evals.store import atomic_write_json

    atomic_write_json(index, known)
    return value


def weights_fingerprint(folder: Path, gguf_file: str | None = None) -> str:
    """sha256 over the weight files (and config) that define the model's outputs."""
    if gguf_file:
        return "sha256:" + sha256_file(folder / gguf_file)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and (p.suffix in WEIGHT_SUFFIXES or p.name == "config.json"))
    if len(files) == 1:
        return "sha256:" + sha256_file(files[0])
    digest = hashlib.sha256()
    for p in files:
        digest.update(f"{p.relative_to(folder)}:{sha256_file(p)}\n".encode())
    return "sha256:" + digest.hexdigest()


def canonical_hash(obj: Any) -> str:
    blob = json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)
    return "sha256:" + hashlib.sha256(blob.encode("utf-8")).hexdigest()


def suite_hash(task_blobs: Iterable[dict[str, Any]]) -> str:
    """Hash of every task definition and every item it asks: equal hashes mean the same exam."""
    return canonical_hash(sorted(task_blobs, key=lambda b: b["task"]))


def _version(module: str) -> str | None:
    try:
        from importlib.metadata import version

        return version(module)
    except Exception:
        return None


def hardware() -> dict[str, Any]:
    info: dict[str, Any] = {"machine": platform.machine(), "cpu_count": os.cpu_count()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        info["cpu"] = platform.processor() or None
    try:
        import torch

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["cuda"] = torch.version.cuda
    except ImportError:
        pass
    return info


def environment() -> dict[str, Any]:
    from evals import __version__

    return {
        "evals": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": _version("torch"),
        "transformers": _version("transformers"),
        "numpy": _version("numpy"),
        "hardware": hardware(),
        "argv": sys.argv[1:],
    }
