"""Check a parsed results.json document against the schema before loading it.

Every problem is collected, so one error message lists all of them, each with the
JSON path of the value, for example ``runs[2].metrics: missing field
'total_time'``. See docs/results-schema.md for the schema.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from recovery_lab.metrics import RunMetrics

# Required fields and their JSON types. ``number`` accepts integers too; bool is
# never accepted as a number.
TOP_FIELDS = {
    "created": "string",
    "scenario": "object",
    "system_database": "string",
    "machine": "object",
    "runs": "array",
}
RUN_FIELDS = {
    "strategy": "string",
    "mode": "string",
    "repetition": "integer",
    "run_dir": "string",
    "settings": "object",
    "outcome": "object",
    "metrics": "object",
}
OUTCOME_FIELDS = {"status": "string"}
METRIC_TYPES = {
    "float": "number",
    "int": "integer",
    "bool": "boolean",
    "list[float | None]": "array",
}


def _metric_fields() -> dict[str, str]:
    """Return the required metric fields: those of RunMetrics without a default."""
    required = {}
    for item in dataclasses.fields(RunMetrics):
        if item.default is dataclasses.MISSING and (
            item.default_factory is dataclasses.MISSING
        ):
            required[item.name] = METRIC_TYPES.get(str(item.type), "any")
    return required


def _has_type(value: Any, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "object":
        return isinstance(value, dict)
    if kind == "array":
        return isinstance(value, list)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _check_fields(
    data: dict[str, Any], fields: dict[str, str], where: str, problems: list[str]
) -> None:
    prefix = f"{where}: " if where else ""
    for name, kind in fields.items():
        if name not in data:
            problems.append(f"{prefix}missing field {name!r}")
        elif not _has_type(data[name], kind):
            problems.append(
                f"{prefix}field {name!r} must be of type {kind}, "
                f"found {type(data[name]).__name__}"
            )


def check_document(data: dict[str, Any]) -> list[str]:
    """Check the fields of a results document whose schema and version match.

    Args:
        data: The parsed results.json.

    Returns:
        One message per problem; empty when the document is valid.

    """
    problems: list[str] = []
    _check_fields(data, TOP_FIELDS, "", problems)
    runs = data.get("runs")
    if not isinstance(runs, list):
        return problems
    metric_fields = _metric_fields()
    for index, run in enumerate(runs):
        where = f"runs[{index}]"
        if not isinstance(run, dict):
            problems.append(f"{where}: must be an object")
            continue
        _check_fields(run, RUN_FIELDS, where, problems)
        if isinstance(run.get("outcome"), dict):
            _check_fields(run["outcome"], OUTCOME_FIELDS, f"{where}.outcome", problems)
        if isinstance(run.get("metrics"), dict):
            _check_fields(run["metrics"], metric_fields, f"{where}.metrics", problems)
    return problems
