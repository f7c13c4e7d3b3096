"""Monitor rules: a condition on a live metric's mean over a time window, in the tokens
of the search language (registry.search), with errors that point at the position.

    live.auc < metrics.test.auc - 0.05 over 1h
    live.drift_psi > 0.2 over 24h
    live.p95_latency_ms >= 250 over 15m

Grammar:

    rule      = "live." NAME op bound "over" DURATION
    op        = "<" | "<=" | ">" | ">="
    bound     = number | "metrics." SPLIT "." NAME [ ("+" | "-") number ]
    DURATION  = digits ("m" | "h" | "d"), from 5m to 30d

The bound "metrics.SPLIT.NAME" is the deployed version's own offline metric, so one rule
serves every version of the model.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

from registry.models import Split
from registry.search import SearchError, Token, tokenize

MAX_RULE_LENGTH = 500
MIN_WINDOW = dt.timedelta(minutes=5)
MAX_WINDOW = dt.timedelta(days=30)
NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$")
_DURATION_RE = re.compile(r"^(\d{1,5})([mhd])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class Rule:
    metric: str  # the live metric's name
    op: str
    constant: float  # the bound, or the offset added to the offline metric
    offline: tuple[str, str] | None  # (split, name) of the version's offline metric
    window: dt.timedelta

    def threshold(self, offline_value: float | None) -> float | None:
        """The bound for one version (None when it lacks the offline metric)."""
        if self.offline is None:
            return self.constant
        return None if offline_value is None else offline_value + self.constant

    def breached(self, live_mean: float, threshold: float) -> bool:
        return OPERATORS[self.op](live_mean, threshold)


def _name(token: Token, prefix: str, what: str) -> str:
    if token.kind != "word" or not token.text.lower().startswith(prefix):
        raise SearchError(f"expected {what}, found {token.describe()}", token.position)
    name = token.text[len(prefix) :]
    if not NAME_RE.match(name):
        raise SearchError(f"{token.describe()} does not name a metric", token.position)
    return name


def _number(token: Token, signed_by: str = "") -> float:
    if token.kind != "number":
        raise SearchError(f"expected a number, found {token.describe()}", token.position)
    value = float(signed_by + token.text)
    if not math.isfinite(value):
        raise SearchError("the number is too large", token.position)
    return value


def parse(text: str) -> Rule:
    """The rule, or a SearchError naming what was wrong and where."""
    if len(text) > MAX_RULE_LENGTH:
        raise SearchError(f"a rule has at most {MAX_RULE_LENGTH} characters", MAX_RULE_LENGTH)
    tokens = tokenize(text.strip())
    pos = 0

    def take() -> Token:
        nonlocal pos
        token = tokens[min(pos, len(tokens) - 1)]
        pos += 1
        return token

    metric = _name(take(), "live.", 'a live metric such as "live.auc"')
    op_token = take()
    if op_token.kind != "op" or op_token.text not in OPERATORS:
        raise SearchError(f"expected one of < <= > >=, found {op_token.describe()}",
                          op_token.position)  # fmt: skip
    bound = take()
    offline = None
    constant = 0.0
    if bound.kind == "number":
        constant = _number(bound)
    else:
        parts = bound.text.split(".") if bound.kind == "word" else []
        if len(parts) != 3 or parts[0].lower() != "metrics":
            raise SearchError(
                f'expected a number or "metrics.SPLIT.NAME", found {bound.describe()}',
                bound.position,
            )
        split, name = parts[1].lower(), parts[2]
        if split not in Split.values:
            raise SearchError(f"unknown split {split!r}: use one of {', '.join(Split.values)}",
                              bound.position)  # fmt: skip
        if not NAME_RE.match(name):
            raise SearchError(f"{bound.describe()} does not name a metric", bound.position)
        offline = (split, name)
        following = tokens[pos]
        if following.kind == "word" and following.text in ("+", "-"):
            pos += 1
            constant = _number(take(), following.text)
        elif following.kind == "number" and following.text[0] in "+-":
            constant = _number(take())
    over = take()
    if over.kind != "word" or over.text.lower() != "over":
        raise SearchError(f'expected "over" and a window such as 1h, found {over.describe()}',
                          over.position)  # fmt: skip
    duration = take()
    match = _DURATION_RE.match(duration.text.lower()) if duration.kind == "word" else None
    if not match:
        raise SearchError(f"expected a window such as 15m, 1h or 7d, found {duration.describe()}",
                          duration.position)  # fmt: skip
    window = dt.timedelta(**{_UNITS[match[2]]: int(match[1])})
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise SearchError("the window must be between 5m and 30d", duration.position)
    end = take()
    if end.kind != "end":
        raise SearchError(f"unexpected {end.describe()} after the window", end.position)
    return Rule(metric, op_token.text, constant, offline, window)
