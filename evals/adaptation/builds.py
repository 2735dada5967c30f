"""Builds of one model for `evaluate adapt`: a runner plus overrides (dtype, quantization, device,
backend), parsed from a SPEC such as `smollm2-135m,quantize=int8`, and loaded as an adapter whose
fingerprint names the build, so the response cache never mixes two builds.

Parsing imports nothing heavy: a bad SPEC is a one-line usage error before any model loads.
"""
from __future__ import annotations

import re
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterator

from evals.adapters.base import Adapter
from evals.errors import UsageError
from evals.registry import did_you_mean
from evals.requests import Request, Response
from evals.runners import RunnerProfile, resolve_profile

DTYPES = ("float32", "bfloat16", "float16", "auto")
QUANTIZE = ("int8",)
SPEC_KEYS = ("dtype", "device", "quantize", "perturb", "base_url", "batch_size", "max_length")
LOCAL_ONLY = ("dtype", "device", "quantize", "perturb")


@dataclass
class BuildSpec:
    """One build: `runner[,key=value...]`. `label` is the SPEC as written."""

    label: str
    runner: str
    overrides: dict[str, Any] = field(default_factory=dict)
    profile: RunnerProfile | None = None

    @property
    def local(self) -> bool:
        return self.profile is not None and self.profile.adapter != "openai"

    def same_build(self, other: "BuildSpec") -> bool:
        return self.runner == other.runner and self.overrides == other.overrides


def _value(key: str, text: str, spec: str) -> Any:
    bad = f"SPEC {spec!r}: {key}={text!r}"
    if key == "dtype":
        if text not in DTYPES:
            raise UsageError(f"{bad}: dtype must be one of {', '.join(DTYPES)}")
        return text
    if key == "quantize":
        if text not in QUANTIZE:
            raise UsageError(f"{bad}: quantize must be one of {', '.join(QUANTIZE)} (torch dynamic int8 on CPU)")
        return text
    if key == "perturb":
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not value > 0:
            raise UsageError(f"{bad}: perturb is the relative std of the noise, a number above 0 (e.g. 0.05)")
        return value
    if key in ("batch_size", "max_length"):
        if key == "batch_size" and text == "auto":
            return text
        if not text.isdigit() or int(text) < 1:
            raise UsageError(f"{bad}: {key} must be a whole number of at least 1")
        return int(text)
    if key == "base_url" and not text.startswith(("http://", "https://")):
        raise UsageError(f"{bad}: base_url must start with http:// or https://")
    return text


def parse_spec(text: str, flag: str = "--candidate") -> BuildSpec:
    """`runner[,key=value...]` → BuildSpec; unknown keys and bad values are one-line usage errors."""
    spec = text.strip()
    runner, *parts = [p.strip() for p in spec.split(",")]
    if not runner:
        raise UsageError(f"{flag} {text!r}: needs a runner name first, e.g. smollm2-135m,dtype=bfloat16")
    overrides: dict[str, Any] = {}
    for part in parts:
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or not key or not value.strip():
            raise UsageError(f"{flag} {text!r}: {part!r} is not key=value")
        if key not in SPEC_KEYS:
            raise UsageError(f"{flag} {text!r}: unknown key {key!r}{did_you_mean(key, list(SPEC_KEYS))} "
                             f"(keys: {', '.join(SPEC_KEYS)})")
        if key in overrides:
            raise UsageError(f"{flag} {text!r}: {key} is given twice")
        overrides[key] = _value(key, value.strip(), spec)
    profile = resolve_profile(runner)
    where = f"{flag} {text!r}"
    if profile.adapter == "openai":
        local = [k for k in LOCAL_ONLY if k in overrides]
        if local:
            raise UsageError(f"{where}: {', '.join(local)} apply to local models; a hosted model runs as its server serves it")
    else:
        if "base_url" in overrides:
            raise UsageError(f"{where}: base_url is for hosted models (openai:NAME or an openai runner profile)")
        if "quantize" in overrides:
            device = str(overrides.get("device") or profile.settings.get("device") or "cpu")
            if device != "cpu":
                raise UsageError(f"{where}: quantize=int8 is torch dynamic quantization, which runs on CPU only")
            if overrides.get("dtype", profile.settings.get("dtype", "float32")) != "float32":
                raise UsageError(f"{where}: quantize=int8 quantizes float32 weights; drop dtype or use dtype=float32")
    return BuildSpec(label=spec, runner=runner, overrides=overrides, profile=profile)


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "-", label).strip("-")[:80] or "build"


class Build(Adapter):
    """A loaded build: the backend's adapter, with the build's own fingerprint and settings."""

    def __init__(self, spec: BuildSpec, inner: Adapter, suffix: str, extra: dict[str, Any], load_seconds: float) -> None:
        self.spec = spec
        self.inner = inner
        self.name = inner.name
        self.model_name = inner.model_name
        self.fingerprint = inner.fingerprint + suffix
        self.supports_chat = inner.supports_chat
        self.extra = extra
        self.load_seconds = load_seconds

    def __getattr__(self, name: str) -> Any:  # tokenizer, max_length, model...: what code duck-types on
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    @property
    def local(self) -> bool:
        return hasattr(self.inner, "model") and hasattr(self.inner, "tokenizer")

    def run(self, requests: list[Request]) -> Iterator[list[tuple[int, Response]]]:
        return self.inner.run(requests)

    def settings(self) -> dict[str, Any]:
        return {**self.inner.settings(), **self.extra}

    def efficiency(self) -> dict[str, Any]:
        return self.inner.efficiency()

    def close(self) -> None:
        self.inner.close()


def load_build(spec: BuildSpec, *, seed: int = 1234, batch_size: int | str | None = None) -> Build:
    """Load the runner's adapter with the overrides, then quantize / perturb it in place."""
    from evals.adapters import load_adapter

    o = spec.overrides
    profile = spec.profile or resolve_profile(spec.runner)
    t0 = time.perf_counter()
    opts: dict[str, Any] = {"seed": seed, "batch_size": o.get("batch_size", batch_size),
                            "max_length": o.get("max_length")}
    if spec.local:
        opts.update(device=o.get("device"), dtype=o.get("dtype"))
    elif "base_url" in o:
        opts["base_url"] = o["base_url"]
    inner = load_adapter(profile, **opts)
    extra: dict[str, Any] = {}
    if o.get("quantize"):
        quantize_int8(inner.model)
        extra["quantize"] = "int8 (torch dynamic, nn.Linear)"
    if o.get("perturb"):
        perturb_weights(inner.model, float(o["perturb"]), seed)
        extra["perturb"] = {"relative_std": o["perturb"], "seed": seed}
    return Build(spec, inner, fingerprint_suffix(o, seed), extra, time.perf_counter() - t0)


def fingerprint_suffix(overrides: dict[str, Any], seed: int) -> str:
    """What a build changes, appended to the weights fingerprint: `#int8`, `#perturb=0.05@1234`,
    `#dtype=bfloat16`... (a hosted build's fingerprint already names its endpoint)."""
    out = ""
    for key, value in overrides.items():
        if key == "quantize":
            out += f"#{value}"
        elif key == "perturb":
            out += f"#perturb={value:g}@{seed}"
        elif key != "base_url":
            out += f"#{key}={value}"
    return out


def quantize_int8(model: Any) -> None:
    """torch dynamic quantization: every nn.Linear's weights to int8, activations quantized on the fly."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)


def perturb_weights(model: Any, relative_std: float, seed: int) -> None:
    """A negative control: to every weight matrix (2-D or more) add N(0, (relative_std · std(W))²)
    noise, drawn from a generator seeded with `seed`, parameter by parameter in name order."""
    import torch

    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    with torch.no_grad():
        for _, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            if p.dim() < 2 or not p.is_floating_point():
                continue
            scale = float(p.detach().float().std()) * relative_std
            noise = torch.randn(p.shape, generator=gen, dtype=torch.float32) * scale
            p.add_(noise.to(device=p.device, dtype=p.dtype))
