"""Reading YAML task/suite files with errors that name the file, line and field."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from evals.errors import InputError
from evals.registry import did_you_mean


class YamlDoc:
    """A parsed YAML mapping that remembers where each top-level key stands in its file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(str(path), f"cannot read ({exc.strerror})") from None
        try:
            self.data = yaml.safe_load(text)
            node = yaml.compose(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{path}:{mark.line + 1}" if mark else str(path)
            problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
            raise InputError(where, f"invalid YAML: {problem}") from None
        if not isinstance(self.data, dict):
            raise InputError(str(path), "must be a YAML mapping (key: value lines)")
        self._lines: dict[str, int] = {}
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                self._lines[str(key_node.value)] = key_node.start_mark.line + 1

    def where(self, key: str | None = None) -> str:
        if key is not None and key in self._lines:
            return f"{self.path}:{self._lines[key]}: field '{key}'"
        if key is not None:
            return f"{self.path}: field '{key}'"
        return str(self.path)

    def error(self, key: str | None, problem: str, fix: str = "") -> InputError:
        return InputError(self.where(key), problem, fix)

    def require(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.data:
            raise InputError(str(self.path), f"missing required field '{key}'")
        value = self.data[key]
        if not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.error(key, f"must be a {names}, got {type(value).__name__}")
        return value

    def optional(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in self.data or self.data[key] is None:
            return default
        return self.require(key, kind)

    def check_keys(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed:
                raise self.error(str(key), "unknown field" + did_you_mean(str(key), sorted(allowed)))
