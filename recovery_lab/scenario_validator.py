"""Walk a composed scenario file, key by key, and collect every problem in it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

import yaml
from yaml.constructor import SafeConstructor

from recovery_lab.errors import Problem
from recovery_lab.fault_rules import RuleContext, check_fault_rules
from recovery_lab.scenario import (
    Fault,
    RestartPolicy,
    Scenario,
    Schedule,
    StrategySpec,
    Workload,
)
from recovery_lab.scenario_fields import (
    _CONSTRUCT_ERRORS,
    _EXPECT_FIELDS,
    _FAULT_FIELDS,
    _FAULT_TRIGGERS,
    _MAP_TAG,
    _RESTART_FIELDS,
    _SCHEDULE_FIELDS,
    _SEQ_TAG,
    _STR_TAG,
    _STRATEGIES_ALLOWED,
    _STRATEGY_FIELDS,
    _TOP_FIELDS,
    _TOP_KEYS,
    _WORKLOAD_FIELDS,
    FILE_KEY,
    STRATEGY_NAMES,
    _allowed_text,
    _DefaultContext,
    _describe,
    _Field,
    _has_kind,
    _join,
    _line,
    _short_tag,
    _show,
    _within,
)

# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------


class _Invalid:
    """Type of :data:`_INVALID`."""

    def __repr__(self) -> str:
        return "<invalid>"


# Marker for a value that failed validation, so that checks comparing it with other
# keys are skipped.
_INVALID: Final = _Invalid()


class _Validator:
    """Walk a composed scenario node tree and collect every problem in it."""

    def __init__(self, stem: str) -> None:
        self.problems: list[Problem] = []
        # Value of every validated key by dotted key, or _INVALID, for limits that
        # refer to another key.
        self._resolved: dict[str, Any] = {}
        self._stem = stem
        self._constructor = SafeConstructor()

    def report(
        self, key: str, where: yaml.Node | int | None, found: str, allowed: str
    ) -> None:
        """Record one problem at a node, or at a line when the node is missing."""
        line = where if isinstance(where, int) or where is None else _line(where)
        self.problems.append(Problem(key, line, found, allowed))

    def scenario(self, root: yaml.Node, path: str) -> Scenario | None:
        """Validate the root mapping and build the scenario.

        Args:
            root: Root node of the document.
            path: Value of :attr:`Scenario.path`.

        Returns:
            The scenario, or None when any problem was found.

        """
        top_allowed = "a mapping with the keys: " + ", ".join(_TOP_KEYS)
        if not self._is_mapping(root, FILE_KEY, top_allowed):
            return None
        root_line = _line(root)
        entries = self._entries(root, "", _TOP_KEYS)

        # Sections are validated in this order so that each limit that refers to
        # another key finds that key already validated (see _Limit).
        top = self._section(entries, "", _TOP_FIELDS, root_line)
        workload = self._required_section(
            entries.get("workload"), "workload", _WORKLOAD_FIELDS, root_line
        )
        restart = self._optional_section(
            entries.get("restart"), "restart", _RESTART_FIELDS, root_line
        )
        strategies = self._strategies(entries.get("strategies"), root_line)
        rules = RuleContext(
            strategies=tuple(name for name, _ in strategies),
            effects=str(workload["effects"]),
            watchdog=top["watchdog"] if top["watchdog"] is not _INVALID else 0.0,
            last_incarnation=(
                restart["max_restarts"] + 1
                if restart["max_restarts"] is not _INVALID
                else None
            ),
        )
        faults = self._faults(entries.get("faults"), rules)
        schedule = self._schedule(entries.get("schedule"), rules, faults)
        if not self.problems:
            # Only once every fault is valid on its own, to report one cause.
            self._check_after_stop(faults, schedule, top["watchdog"], entries)
        expect = self._expect(entries.get("expect"))

        if self.problems:
            return None
        return Scenario(
            name=top["name"],
            description=top["description"],
            path=path,
            workload=Workload(**workload),
            strategies=tuple(
                StrategySpec(name, settings) for name, settings in strategies
            ),
            faults=tuple(sorted(faults, key=lambda fault: fault.incarnation)),
            restart=RestartPolicy(**restart),
            timeout=top["timeout"],
            repetitions=top["repetitions"],
            baseline=top["baseline"],
            schedule=schedule,
            watchdog=top["watchdog"],
            expect=expect,
        )

    # -- structure ---------------------------------------------------------

    def _is_mapping(self, node: yaml.Node, key: str, allowed: str) -> bool:
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            return True
        self.report(key, node, self._describe_node(node), allowed)
        return False

    def _describe_node(self, node: yaml.Node) -> str:
        """Format any node for a ``found`` text."""
        default_tag = _MAP_TAG if isinstance(node, yaml.MappingNode) else _SEQ_TAG
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            noun = "a mapping" if isinstance(node, yaml.MappingNode) else "a list"
            if node.tag != default_tag:
                return f"{noun} tagged {_short_tag(node.tag)}"
            if not node.value:
                return f"an empty {noun[2:]}"
            return noun
        try:
            value = self._constructor.construct_object(node, deep=True)
        except _CONSTRUCT_ERRORS:
            return f"{node.value!r} tagged {_short_tag(node.tag)}"
        return _describe(value)

    def _entries(
        self, node: yaml.Node, path: str, allowed_keys: tuple[str, ...]
    ) -> dict[str, yaml.Node]:
        """Map each allowed key of a mapping node to its value node.

        Unknown, duplicate and non-string keys are reported and left out.
        """
        allowed = "one of: " + ", ".join(allowed_keys)
        entries: dict[str, yaml.Node] = {}
        key_nodes: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG):
                label = key_node.value if isinstance(key_node, yaml.ScalarNode) else "?"
                found = f"the key {self._describe_node(key_node)}"
                self.report(_join(path, str(label)), key_node, found, allowed)
                continue
            name = key_node.value
            key = _join(path, name)
            if name not in allowed_keys:
                self.report(key, key_node, repr(name), allowed)
            elif name in entries:
                first_line = _line(key_nodes[name])
                found = f"a second {name!r} key (the first is on line {first_line})"
                self.report(key, key_node, found, "each key at most once")
            else:
                entries[name] = value_node
                key_nodes[name] = key_node
        return entries

    def _required_section(
        self,
        node: yaml.Node | None,
        path: str,
        fields: tuple[_Field, ...],
        parent_line: int | None,
    ) -> dict[str, Any]:
        allowed = "a mapping of: " + ", ".join(field.key for field in fields)
        if node is None:
            self.report(path, parent_line, "nothing", allowed)
            return self._skip_section(path, fields)
        if not self._is_mapping(node, path, allowed):
            return self._skip_section(path, fields)
        entries = self._entries(node, path, tuple(field.key for field in fields))
        return self._section(entries, path, fields, _line(node))

    def _optional_section(
        self,
        node: yaml.Node | None,
        path: str,
        fields: tuple[_Field, ...],
        parent_line: int | None,
    ) -> dict[str, Any]:
        if node is None:
            return self._section({}, path, fields, parent_line)
        return self._required_section(node, path, fields, parent_line)

    def _skip_section(self, path: str, fields: tuple[_Field, ...]) -> dict[str, Any]:
        """Mark every key of an invalid section as invalid."""
        for field in fields:
            self._resolved[_join(path, field.key)] = _INVALID
        return {field.key: _INVALID for field in fields}

    # -- fields ------------------------------------------------------------

    def _section(
        self,
        entries: Mapping[str, yaml.Node],
        path: str,
        fields: tuple[_Field, ...],
        line: int | None,
        position: int = 0,
    ) -> dict[str, Any]:
        """Validate every field of one section.

        Args:
            entries: Value node of each key present in the section.
            path: Dotted key of the section, empty for the top level.
            fields: The section's field table.
            line: Line of the section, for problems with missing keys.
            position: Position of the section in its list, for computed defaults.

        Returns:
            Field key to value, with defaults filled in and _INVALID for each
            invalid value.

        """
        context = _DefaultContext(self._stem, position)
        values: dict[str, Any] = {}
        for field in fields:
            key = _join(path, field.key)
            value = self._field(field, key, entries.get(field.key), line, context)
            values[field.key] = value
            self._resolved[key] = value
        return values

    def _field(
        self,
        field: _Field,
        key: str,
        node: yaml.Node | None,
        parent_line: int | None,
        context: _DefaultContext,
    ) -> Any:
        """Validate one value, or compute the default of a missing key.

        Returns:
            The value, None for a missing key without default, or _INVALID.

        """
        resolved = self._resolved_limits(field, key)
        if node is None:
            if field.default_factory is not None:
                value = field.default_factory(context)
            else:
                value = field.default
            if value is None:
                return None
            where: yaml.Node | int | None = parent_line
        else:
            value = self._scalar(node, field, key, resolved)
            if value is _INVALID:
                return _INVALID
            where = node

        def found() -> str:
            if node is None:
                return f"nothing, so the default {_show(value)}"
            return _show(value)

        if not self._passes_own_checks(value, field):
            self.report(key, where, found(), _allowed_text(field, resolved))
            return _INVALID
        for limit, is_lower in ((field.lower, True), (field.upper, False)):
            if limit is None or not isinstance(limit.bound, str):
                continue
            if limit.bound not in resolved:
                continue
            bound = resolved[limit.bound]
            if _within(value, limit, bound, is_lower):
                continue
            if node is None and limit.inclusive:
                value = bound
                continue
            self.report(key, where, found(), _allowed_text(field, resolved))
            return _INVALID
        return value

    def _resolved_limits(self, field: _Field, key: str) -> dict[str, Any]:
        """Return the valid values of the keys that the field's limits refer to.

        Raises:
            RuntimeError: If a limit refers to a key that is not validated before
                this field, which is a mistake in the field tables.

        """
        resolved: dict[str, Any] = {}
        for limit in (field.lower, field.upper):
            if limit is None or not isinstance(limit.bound, str):
                continue
            if limit.bound not in self._resolved:
                raise RuntimeError(
                    f"the limit of {key} refers to {limit.bound}, which is not "
                    "validated before it"
                )
            value = self._resolved[limit.bound]
            if value is not _INVALID and value is not None:
                resolved[limit.bound] = value
        return resolved

    def _scalar(
        self,
        node: yaml.Node,
        field: _Field,
        key: str,
        resolved: Mapping[str, Any],
    ) -> Any:
        """Construct a scalar node and check its type.

        Returns:
            The value, a float for a ``number`` field, or _INVALID.

        """
        allowed = _allowed_text(field, resolved)
        if not isinstance(node, yaml.ScalarNode):
            self.report(key, node, self._describe_node(node), allowed)
            return _INVALID
        try:
            value = self._constructor.construct_object(node, deep=True)
        except _CONSTRUCT_ERRORS:
            found = f"{node.value!r} tagged {_short_tag(node.tag)}"
            self.report(key, node, found, allowed)
            return _INVALID
        if not _has_kind(value, field.kind):
            self.report(key, node, _describe(value), allowed)
            return _INVALID
        if field.kind == "number":
            try:
                return float(value)
            except OverflowError:
                self.report(key, node, _show(value), allowed)
                return _INVALID
        return value

    def _passes_own_checks(self, value: Any, field: _Field) -> bool:
        """Check the rules of a field that do not depend on other keys."""
        if field.kind == "number" and not math.isfinite(value):
            return False
        if field.choices and value not in field.choices:
            return False
        if field.check is not None and not field.check(value):
            return False
        for limit, is_lower in ((field.lower, True), (field.upper, False)):
            if limit is None or isinstance(limit.bound, str):
                continue
            if not _within(value, limit, limit.bound, is_lower):
                return False
        return True

    # -- strategies and faults ---------------------------------------------

    def _strategies(
        self, node: yaml.Node | None, root_line: int | None
    ) -> list[tuple[str, dict[str, Any]]]:
        """Validate ``strategies`` in list or mapping form.

        Returns:
            (name, settings) pairs in the order of the file.

        """
        if node is None:
            self.report("strategies", root_line, "nothing", _STRATEGIES_ALLOWED)
            return []
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG:
            settings_nodes = self._strategy_list(node)
        elif isinstance(node, yaml.MappingNode) and node.tag == _MAP_TAG:
            entries = self._entries(node, "strategies", STRATEGY_NAMES)
            settings_nodes = list(entries.items())
        else:
            found = self._describe_node(node)
            self.report("strategies", node, found, _STRATEGIES_ALLOWED)
            return []
        if not node.value:
            found = self._describe_node(node)
            self.report("strategies", node, found, _STRATEGIES_ALLOWED)

        strategies: list[tuple[str, dict[str, Any]]] = []
        for name, settings_node in settings_nodes:
            path = f"strategies.{name}"
            fields = _STRATEGY_FIELDS[name]
            if settings_node is None or _is_null(settings_node):
                line = _line(settings_node) or _line(node)
                settings = self._section({}, path, fields, line)
            else:
                keys = tuple(field.key for field in fields)
                allowed = f"a mapping of: {', '.join(keys)}, or null for the defaults"
                if self._is_mapping(settings_node, path, allowed):
                    entries = self._entries(settings_node, path, keys)
                    settings = self._section(
                        entries, path, fields, _line(settings_node)
                    )
                else:
                    settings = self._skip_section(path, fields)
            strategies.append((name, settings))
        return strategies

    def _strategy_list(self, node: yaml.Node) -> list[tuple[str, yaml.Node | None]]:
        """Validate the list form of ``strategies``.

        Returns:
            (name, None) for each valid name, because the list form sets no
            settings.

        """
        allowed = "one of: " + ", ".join(STRATEGY_NAMES)
        first_positions: dict[str, int] = {}
        names: list[tuple[str, yaml.Node | None]] = []
        for position, item in enumerate(node.value):
            key = f"strategies[{position}]"
            name_field = _Field(key, "string", choices=STRATEGY_NAMES)
            name = self._scalar(item, name_field, key, {})
            if name is _INVALID:
                continue
            if name not in STRATEGY_NAMES:
                self.report(key, item, repr(name), allowed)
            elif name in first_positions:
                first = first_positions[name]
                self.report(
                    key,
                    item,
                    repr(name),
                    f"a strategy not already listed at strategies[{first}]",
                )
            else:
                first_positions[name] = position
                names.append((name, None))
        return names

    def _faults(self, node: yaml.Node | None, rules: RuleContext) -> list[Fault]:
        """Validate ``faults``, including the checks across faults.

        Returns:
            The valid faults in the order of the file.

        """
        if node is None:
            return []
        allowed = "a list of fault mappings"
        if not (isinstance(node, yaml.SequenceNode) and node.tag == _SEQ_TAG):
            self.report("faults", node, self._describe_node(node), allowed)
            return []

        keys = tuple(field.key for field in _FAULT_FIELDS)
        item_allowed = "a mapping of: " + ", ".join(keys)
        faults: list[Fault] = []
        first_by_incarnation: dict[int, int] = {}
        for position, item in enumerate(node.value):
            path = f"faults[{position}]"
            if not self._is_mapping(item, path, item_allowed):
                continue
            entries = self._entries(item, path, keys)
            values = self._section(entries, path, _FAULT_FIELDS, _line(item), position)
            self._check_triggers(entries, path, item)
            self._check_rules(values, entries, path, item, rules)

            incarnation = values["incarnation"]
            if incarnation is not _INVALID:
                if incarnation in first_by_incarnation:
                    where = entries.get("incarnation", item)
                    found = _show(incarnation)
                    if "incarnation" not in entries:
                        found = f"nothing, so the default {found}"
                    first = first_by_incarnation[incarnation]
                    allowed_text = f"an incarnation not used by faults[{first}]"
                    self.report(f"{path}.incarnation", where, found, allowed_text)
                else:
                    first_by_incarnation[incarnation] = position
                last = rules.last_incarnation
                if last is not None and incarnation > last:
                    found = _show(incarnation)
                    if "incarnation" not in entries:
                        found = f"nothing, so the default {found}"
                    self.report(
                        f"{path}.incarnation",
                        entries.get("incarnation", item),
                        found,
                        f"an incarnation from 1 to {last} (restart.max_restarts + 1),"
                        " because no later incarnation is ever launched",
                    )
            if _INVALID not in values.values():
                faults.append(Fault(**values))
        return faults

    def _check_after_stop(
        self,
        faults: list[Fault],
        schedule: Schedule | None,
        watchdog: Any,
        entries: Mapping[str, yaml.Node],
    ) -> None:
        """Report faults on incarnations after one that a SIGSTOP only freezes.

        A stopped incarnation goes on after SIGCONT and completes, so no later
        incarnation is launched, unless the watchdog kills it as hung first.
        """
        planned = sorted(
            [*faults, *(schedule.expand() if schedule else ())],
            key=lambda fault: fault.incarnation,
        )
        for fault in planned:
            if fault.signal != "SIGSTOP" or fault.failpoint is not None:
                continue
            stop = fault.stop_seconds or 0.0
            if isinstance(watchdog, (int, float)) and watchdog < stop:
                continue
            later = [f for f in planned if f.incarnation > fault.incarnation]
            if later:
                where = entries.get("faults") or entries.get("schedule")
                self.report(
                    "faults",
                    where,
                    f"a fault on incarnation {later[0].incarnation} after a SIGSTOP "
                    f"of incarnation {fault.incarnation}",
                    "no fault after a SIGSTOP fault, because the stopped incarnation "
                    "resumes and completes, unless watchdog is shorter than its "
                    "stop_seconds",
                )
            return

    def _check_rules(
        self,
        values: Mapping[str, Any],
        entries: Mapping[str, yaml.Node],
        path: str,
        item: yaml.Node,
        rules: RuleContext,
    ) -> None:
        """Report the broken rules of fault_rules.py, at the key they name."""
        for key, found, allowed in check_fault_rules(values, set(entries), rules):
            self.report(_join(path, key), entries.get(key, item), found, allowed)

    def _schedule(
        self, node: yaml.Node | None, rules: RuleContext, faults: list[Fault]
    ) -> Schedule | None:
        """Validate ``schedule`` and check that it leaves ``faults`` alone.

        Returns:
            The schedule, or None when it is missing or invalid.

        """
        if node is None:
            return None
        allowed = "a mapping of: " + ", ".join(f.key for f in _SCHEDULE_FIELDS)
        if not self._is_mapping(node, "schedule", allowed):
            return None
        keys = tuple(field.key for field in _SCHEDULE_FIELDS)
        entries = self._entries(node, "schedule", keys)
        values = self._section(entries, "schedule", _SCHEDULE_FIELDS, _line(node))
        self._check_rules(values, entries, "schedule", node, rules)
        if _INVALID in values.values():
            return None
        schedule = Schedule(**values)
        last = schedule.first_incarnation + schedule.kills - 1
        if rules.last_incarnation is not None and last > rules.last_incarnation:
            self.report(
                "schedule.kills",
                entries.get("kills", node),
                f"{schedule.kills} kills from incarnation "
                f"{schedule.first_incarnation}, up to incarnation {last}",
                f"kills that end by incarnation {rules.last_incarnation} "
                "(restart.max_restarts + 1), because no later incarnation is ever "
                "launched",
            )
        for position, fault in enumerate(faults):
            if schedule.first_incarnation <= fault.incarnation <= last:
                where = entries.get("first_incarnation", node)
                self.report(
                    "schedule.first_incarnation",
                    where,
                    f"incarnations {schedule.first_incarnation} to {last}, "
                    f"which include incarnation {fault.incarnation} of "
                    f"faults[{position}]",
                    "a first_incarnation and kills that leave out every "
                    "incarnation used by faults",
                )
                return None
        return schedule

    def _expect(self, node: yaml.Node | None) -> tuple[tuple[str, str], ...]:
        """Validate ``expect``: checker verdict names mapped to expected values."""
        if node is None:
            return ()
        values = self._required_section(node, "expect", _EXPECT_FIELDS, _line(node))
        return tuple(
            (name, value) for name, value in values.items() if isinstance(value, str)
        )

    def _check_triggers(
        self, entries: Mapping[str, yaml.Node], path: str, item: yaml.Node
    ) -> None:
        """Report a fault that sets none or several of its trigger keys."""
        present = [key for key in _FAULT_TRIGGERS if key in entries]
        if len(present) == 1:
            return
        allowed = "exactly one of: " + ", ".join(_FAULT_TRIGGERS)
        if not present:
            self.report(path, item, "none of: " + ", ".join(_FAULT_TRIGGERS), allowed)
            return
        last = max(present, key=lambda key: _line(entries[key]) or 0)
        found = " and ".join(present) + " together"
        self.report(_join(path, last), entries[last], found, allowed)


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
