"""Verdicts on a finished run, each with the evidence it rests on."""

from __future__ import annotations

from typing import Final

VERDICT_NAMES: Final = (
    "faults_landed",
    "result_correct",
    "all_tasks_finished",
    "effects_exactly_once",
    "no_leaked_process",
    "ledger_consistent",
    "no_pending_workflows",
)
VERDICT_VALUES: Final = ("pass", "fail", "inconclusive", "not_applicable")
