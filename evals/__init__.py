"""evals: a test-and-assessment harness for large language models.

    import evals
    report = evals.evaluate(model="smollm2-135m", suite="performance", limit=20)
"""
from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["evaluate", "__version__"]


def evaluate(model: str, suite: str, **options: Any) -> dict[str, Any]:
    """Run `suite` against `model`; returns the report (also written under `output_dir`)."""
    from evals.pipeline import evaluate as _evaluate

    return _evaluate(model, suite, **options)
