"""Policy tooling: what a rule change does to real history, how rules score against moderators' labels,
and a one-page HTML report of a moderation run.

::

    from safeguard import Moderator
    from safeguard.policy import diff_rulesets, evaluate, build_report

    result = diff_rulesets(Moderator.from_file("old.yaml"), Moderator.from_file("new.yaml"), posts)
    result.changed, result.to_dict()

Each function returns a dataclass with ``to_dict()`` (deterministic, JSON-ready) and ``render(console)``
(rich tables). The CLI commands ``safeguard diff``, ``evaluate`` and ``report`` are thin wrappers.
"""

from safeguard.policy.diff import DiffExample, PolicyDiff, RuleFires, diff_rulesets
from safeguard.policy.evaluate import (
    Evaluation,
    Gate,
    GateResult,
    LabelError,
    Metric,
    evaluate,
    label_action,
    parse_gate,
    parse_label_map,
    wilson_interval,
)
from safeguard.policy.records import RecordError, UnusableRecord
from safeguard.policy.report import Report, build_report, render_html

__all__ = [
    "DiffExample",
    "Evaluation",
    "Gate",
    "GateResult",
    "LabelError",
    "Metric",
    "PolicyDiff",
    "RecordError",
    "Report",
    "RuleFires",
    "UnusableRecord",
    "build_report",
    "diff_rulesets",
    "evaluate",
    "label_action",
    "parse_gate",
    "parse_label_map",
    "render_html",
    "wilson_interval",
]
