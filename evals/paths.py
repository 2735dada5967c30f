"""Where the bundled suites, seeds and runner profiles live: the repo, or inside the installed wheel."""
from __future__ import annotations

import os
from pathlib import Path

_PKG = Path(__file__).resolve().parent


def bundled_root() -> Path:
    """The data shipped with evals itself (repo checkout or wheel), whatever EVALS_DATA_ROOT says."""
    if (_PKG.parent / "suites").is_dir() and (_PKG.parent / "pyproject.toml").is_file():
        return _PKG.parent
    return _PKG / "_data"


def data_root() -> Path:
    """The folder holding suites/, seeds/ and runners/.

    In a checkout (or an editable install) that is the repository root; an installed wheel carries
    copies under evals/_data. EVALS_DATA_ROOT overrides both (for tests and custom deployments).
    """
    env = os.environ.get("EVALS_DATA_ROOT")
    if env:
        return Path(env)
    return bundled_root()


def suites_dir() -> Path:
    return data_root() / "suites"


def seeds_dir() -> Path:
    return data_root() / "seeds"


def runners_dir() -> Path:
    return data_root() / "runners"


def cache_dir() -> Path:
    """Converted models, file hashes and the response cache shared by runs."""
    base = os.environ.get("EVALS_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "evals"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


def model_cache_dir() -> Path:
    """Converted (dequantised) models: large and slow to make, so kept apart from the response cache."""
    path = Path(os.environ.get("EVALS_MODEL_CACHE_DIR") or cache_dir() / "converted")
    path.mkdir(parents=True, exist_ok=True)
    return path
