"""Execution strategies: the same workload run in different ways.

Each strategy is a module with ``run(config) -> dict[int, int]`` that computes every
task and returns the results by task id. The supervisor runs a strategy in its own
process through ``python -m recovery_lab.strategies CONFIG``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import MappingProxyType

from recovery_lab.strategies.common import StrategyConfig

# Strategy name -> (module, whether the strategy launches DBOS).
STRATEGIES = MappingProxyType(
    {
        "pool": ("recovery_lab.strategies.pool", False),
        "dbos": ("recovery_lab.strategies.dbos_queue", True),
        "hybrid": ("recovery_lab.strategies.hybrid", True),
        "dbos_pool": ("recovery_lab.strategies.dbos_pool", True),
        "checkpoint_pool": ("recovery_lab.strategies.checkpoint_pool", False),
    }
)


def load_strategy(name: str) -> Callable[[StrategyConfig], dict[int, int]]:
    """Import a strategy module by name and return its ``run`` function.

    Raises:
        KeyError: If no strategy has that name.

    """
    module_name, _ = STRATEGIES[name]
    module = importlib.import_module(module_name)
    run: Callable[[StrategyConfig], dict[int, int]] = module.run
    return run


def uses_dbos(name: str) -> bool:
    """Return whether the named strategy keeps its state in a DBOS system database."""
    return STRATEGIES[name][1]
