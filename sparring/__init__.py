"""sparring: self-play rounds that make a language model better at a skill without human labels.

The CLI's verbs are functions here too (`sparring.api`): `run`, `compare`, `evaluate`, `league`, `report`
and `check`, each returning a typed result.
"""

__version__ = "0.1.0"

from sparring.api import (  # noqa: E402 (the version first: modules read it)
    Comparison,
    Evaluation,
    League,
    RunResult,
    Standing,
    check,
    compare,
    evaluate,
    league,
    report,
    run,
)

__all__ = ["Comparison", "Evaluation", "League", "RunResult", "Standing", "check", "compare", "evaluate", "league",
           "report", "run"]
