"""Scorers: turn an item and its responses into per-item metric values and a reason.

Built-in scorers register by name; third-party ones through the `evals.scorers` entry-point group.
"""
from __future__ import annotations

from evals.scoring.base import SCORERS, Score, Scorer, make_scorer

# Importing the modules registers the built-in scorers.
from evals.scoring import adaptation as _adaptation  # noqa: F401,E402
from evals.scoring import bbq as _bbq  # noqa: F401,E402
from evals.scoring import choice as _choice  # noqa: F401,E402
from evals.scoring import code as _code  # noqa: F401,E402
from evals.scoring import counterfactual as _counterfactual  # noqa: F401,E402
from evals.scoring import instructions as _instructions  # noqa: F401,E402
from evals.scoring import match as _match  # noqa: F401,E402
from evals.scoring import leak as _leak  # noqa: F401,E402
from evals.scoring import privacy as _privacy  # noqa: F401,E402
from evals.scoring import refusal as _refusal  # noqa: F401,E402
from evals.scoring import sycophancy as _sycophancy  # noqa: F401,E402

__all__ = ["SCORERS", "Score", "Scorer", "make_scorer"]
