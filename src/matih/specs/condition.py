"""The one small grammar of conditions held over consecutive evaluated days.

``<operand> <op> <operand> for <N> [consecutive] days``, where an operand is a number, a tracked metric
(``mape_overall``, ``mape[Toys]``, ``current_mape``) or a metric times a number (``current_mape * 0.9``).
The monitors' retraining trigger (``mape_overall > 0.12 for 3 consecutive days``) and the routing spec's
``auto_reassign`` (``alternative_model_mape < current_mape * 0.9 for 30 days``) are both parsed here and
evaluated by :meth:`Condition.holds` on the figures of one day: a regular expression and a comparison
table, never ``eval``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast

__all__ = ["Comparison", "Condition", "Operand", "parse_condition"]

Comparison = Literal[">", ">=", "<", "<=", "==", "!="]

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_NUMBER = r"-?\d+(?:\.\d+)?"
_OPERAND = rf"(?:[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]+\])?(?:\s*\*\s*{_NUMBER})?|{_NUMBER})"
_CONDITION_RE = re.compile(
    rf"^\s*(?P<left>{_OPERAND})\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<right>{_OPERAND})"
    r"\s+for\s+(?P<days>\d+)\s+(?:consecutive\s+)?days?\s*$"
)
_OPERAND_RE = re.compile(
    rf"^(?:(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\[[^\]]+\])?)(?:\s*\*\s*(?P<factor>{_NUMBER}))?|(?P<number>{_NUMBER}))$"
)


@dataclass(frozen=True)
class Operand:
    """A number (``name`` is None) or a named figure times ``factor``."""

    name: str | None
    factor: float

    def value(self, figures: Mapping[str, float]) -> float:
        return self.factor if self.name is None else self.factor * figures[self.name]

    def __str__(self) -> str:
        if self.name is None:
            return f"{self.factor:g}"
        return self.name if self.factor == 1 else f"{self.name} * {self.factor:g}"


@dataclass(frozen=True)
class Condition:
    """A parsed condition: ``left op right`` on each of ``days`` consecutive evaluated days."""

    left: Operand
    op: Comparison
    right: Operand
    days: int

    @property
    def names(self) -> tuple[str, ...]:
        """The figures a day must have for the condition to be evaluated on it."""
        return tuple(o.name for o in (self.left, self.right) if o.name is not None)

    def holds(self, figures: Mapping[str, float]) -> bool:
        """Whether one day's figures meet the comparison (``KeyError`` when one is missing)."""
        return _COMPARE[self.op](self.left.value(figures), self.right.value(figures))


def _operand(text: str) -> Operand:
    match = _OPERAND_RE.match(text.strip())
    assert match is not None  # _CONDITION_RE only admits operands
    if match.group("number") is not None:
        return Operand(None, float(match.group("number")))
    return Operand(match.group("name"), float(match.group("factor") or 1))


def parse_condition(text: str, *, form: str, check: Callable[[Condition], str | None]) -> Condition:
    """Parse ``text``; ValueError showing ``form`` when it is not a condition, or ``check``'s complaint
    (the vocabulary of one use: which names, which operand shapes) when it is one but not of that use."""
    match = _CONDITION_RE.match(text)
    if match is None:
        raise ValueError(f"expected a condition like {form}, got {text!r}")
    days = int(match.group("days"))
    if days < 1:
        raise ValueError(f"expected at least 1 day in {text!r}")
    condition = Condition(
        _operand(match.group("left")),
        cast(Comparison, match.group("op")),  # the regex only admits Comparison operators
        _operand(match.group("right")),
        days,
    )
    problem = check(condition)
    if problem is not None:
        raise ValueError(f"{problem} in {text!r}; expected a condition like {form}")
    return condition
