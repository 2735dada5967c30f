"""Adapters turn requests into responses for one kind of backend; the pipeline stays backend-agnostic.

Factories import their heavy dependencies lazily, so `evaluate --help` never imports torch.
"""
from __future__ import annotations

from typing import Any

from evals.adapters.base import Adapter
from evals.registry import Registry
from evals.runners import RunnerProfile

ADAPTERS: Registry[Adapter] = Registry("adapter")


@ADAPTERS.register("hf")
def _hf(profile: RunnerProfile, **options: Any) -> Adapter:
    from evals.adapters.hf import HFAdapter

    return HFAdapter(profile, **options)


@ADAPTERS.register("openai")
def _openai(profile: RunnerProfile, **options: Any) -> Adapter:
    from evals.adapters.openai import OpenAIAdapter

    return OpenAIAdapter(profile, **options)


def load_adapter(profile: RunnerProfile, **options: Any) -> Adapter:
    return ADAPTERS.get(profile.adapter)(profile, **options)


__all__ = ["ADAPTERS", "Adapter", "load_adapter"]
