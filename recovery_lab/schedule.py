"""Seeded random fault schedules.

A scenario's ``schedule`` section requests ``kills`` faults at random times. It
expands into one ``after_seconds`` fault per incarnation, starting at
``first_incarnation``: incarnation ``first_incarnation + i`` is signalled
``gap[i]`` seconds after its launch, where each gap is drawn uniformly from
``[min_gap, max_gap]`` by a ``random.Random(seed)``. The same seed gives the same
gaps on every machine: the ``random`` documentation guarantees that ``random()``
produces the same sequence for the same seed across Python versions, and documents
``uniform(a, b)`` as ``a + (b - a) * random()``.
"""

from __future__ import annotations

import random

# Gaps are rounded to milliseconds, well below the supervisor's reaction time.
GAP_DIGITS = 3


def draw_gaps(seed: int, kills: int, min_gap: float, max_gap: float) -> list[float]:
    """Draw the seconds from each launch to its kill.

    Args:
        seed: Seed of the random generator.
        kills: Number of gaps to draw.
        min_gap: Smallest gap in seconds.
        max_gap: Largest gap in seconds, at least ``min_gap``.

    Returns:
        ``kills`` gaps in seconds, in incarnation order.

    """
    generator = random.Random(seed)
    return [
        round(generator.uniform(min_gap, max_gap), GAP_DIGITS) for _ in range(kills)
    ]
