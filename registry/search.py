"""The search language for versions and models, parsed into ORM filters (never SQL text).

    metrics.test.auc >= 0.9 and tags.owner = "fraud" and stage = production
        and created > "2025-01-01"

Grammar (keywords, field heads, splits and stage/task values are case-insensitive):

    query      = or_expr EOF
    or_expr    = and_expr { "or" and_expr }
    and_expr   = not_expr { "and" not_expr }
    not_expr   = "not" not_expr | primary
    primary    = "(" or_expr ")" | condition
    condition  = field [ op value | [ "not" ] "in" "(" value { "," value } [ "," ] ")" ]
    op         = "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "contains"
    value      = string | number | word
    string     = '"' { char | escape } '"' | "'" { char | escape } "'"
    escape     = "\\" ( "\\" | '"' | "'" | "n" | "t" | "r" | "u" hex hex hex hex )
    number     = [ "-" | "+" ] digits [ "." digits ] [ ( "e" | "E" ) [ "-" | "+" ] digits ]
    word       = a bare run of letters, digits and . _ : / @ % + - (e.g. production, 1.0.0)

A field alone (`tags.pii`, `metrics.test.auc`, `params.lr`) means "has it". `a != v` is
exactly `not a = v` (so it also matches rows without `a`); `<`, `>`, `~` and `in` need it.
Every function takes a queryset the caller already scoped (`visible_to(user)`); a query
only ever narrows it.

Indexes serve the terms (bench/pages.py measures them at 100k versions): metrics by
(split, name, value), tags by (key, value), stage, created, model, sequence, version and
framework; on PostgreSQL also `params.<key> = value` (GIN containment) and
`description ~` (trigram). A hyperparameter compared by order (`params.lr < 0.1`) has no
index, whatever its key: it narrows the rows the other terms select.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from django.db import NotSupportedError, connection
from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
)
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from registry.models import (
    Metric,
    ModelTag,
    ModelVersion,
    RegisteredModel,
    Stage,
    TaskType,
    VersionTag,
)

MAX_QUERY_LENGTH = 2000
MAX_DEPTH = 20
MAX_IN_VALUES = 100
Kind = Literal["versions", "models"]

_NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:/@%+-]{0,99}")
_TAG_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,62}")
_PARAM_RE = re.compile(r"[A-Za-z0-9_-]{1,100}(\.[A-Za-z0-9_-]{1,100}){0,9}")
_NUMBER_RE = re.compile(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
_WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:/@%+-")
_KEYWORDS = frozenset({"and", "or", "not", "in", "contains"})
_ESCAPES = {"\\": "\\", '"': '"', "'": "'", "n": "\n", "t": "\t", "r": "\r"}
_INT_RANGE = (-(2**31), 2**31 - 1)

# Field head -> (value type, where it applies). Path fields take a dotted suffix.
_TEXT = frozenset({"=", "!=", "in", "~"})
_EQUALITY = frozenset({"=", "!=", "in"})
_ORDERED = frozenset({"=", "!=", "<", "<=", ">", ">="})
_FIELDS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    # name: (type, operators, kinds)
    "stage": ("stage", _EQUALITY, frozenset({"versions", "models"})),
    "task": ("task", _EQUALITY, frozenset({"versions", "models"})),
    "framework": ("text", _TEXT, frozenset({"versions", "models"})),
    "team": ("text", _TEXT, frozenset({"versions", "models"})),
    "description": ("text", _TEXT, frozenset({"versions", "models"})),
    "created": ("date", _ORDERED, frozenset({"versions", "models"})),
    "version": ("text", _TEXT, frozenset({"versions"})),
    "model": ("text", _TEXT, frozenset({"versions"})),
    "sequence": ("int", _ORDERED | {"in"}, frozenset({"versions"})),
    "name": ("text", _TEXT, frozenset({"models"})),
    "updated": ("date", _ORDERED, frozenset({"models"})),
}
_PATH_FIELDS: dict[str, frozenset[str]] = {
    "metrics": frozenset({"versions"}),
    "params": frozenset({"versions"}),
    "tags": frozenset({"versions", "models"}),
}
_PATH_OPS = {
    "metrics": _ORDERED | {"in", "has"},
    "params": _ORDERED | {"in", "~", "has"},
    "tags": _TEXT | {"has"},
}
_SPLITS = ("train", "validation", "test", "business")


class SearchError(ValueError):
    """A query the language does not accept; `position` is a 0-based character offset."""

    def __init__(self, message: str, position: int, hint: str = "") -> None:
        self.message = message
        self.position = position
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.message} at {self.position}"
        return f"{text}: {self.hint}" if self.hint else text


# --- tokens -------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    kind: str  # "(", ")", ",", "op", "keyword", "string", "number", "word", "end"
    text: str  # the source text (keywords lower-cased; strings decoded)
    position: int

    def describe(self) -> str:
        if self.kind == "end":
            return "end of query"
        if self.kind == "string":
            return f"string {_quote(self.text)}"
        return _quote(self.text)


def _quote(text: str) -> str:
    shown = text if len(text) <= 40 else text[:37] + "..."
    return '"' + shown.replace("\\", "\\\\").replace('"', '\\"') + '"'


def tokenize(query: str) -> list[Token]:
    """Split a query into tokens; the last one is always an "end" token."""
    if len(query) > MAX_QUERY_LENGTH:
        raise SearchError(f"query is longer than {MAX_QUERY_LENGTH} characters", MAX_QUERY_LENGTH)
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch in " \t\r\n":
            i += 1
        elif ch in "(),":
            tokens.append(Token(ch, ch, i))
            i += 1
        elif ch in "=!<>~":
            two = query[i : i + 2]
            if two in ("!=", "<=", ">=", "=="):
                tokens.append(Token("op", "=" if two == "==" else two, i))
                i += 2
            elif ch == "!":
                raise SearchError('unexpected "!"', i, 'use "!=" or "not"')
            else:
                tokens.append(Token("op", ch, i))
                i += 1
        elif ch in "\"'":
            text, i = _read_string(query, i)
            tokens.append(text)
        elif ch in _WORD_CHARS:
            start = i
            while i < n and query[i] in _WORD_CHARS:
                i += 1
            word = query[start:i]
            if word.lower() in _KEYWORDS:
                tokens.append(Token("keyword", word.lower(), start))
            elif _NUMBER_RE.fullmatch(word):
                tokens.append(Token("number", word, start))
            else:
                tokens.append(Token("word", word, start))
        else:
            raise SearchError(f"unexpected character {_describe_char(ch)}", i)
    tokens.append(Token("end", "", n))
    return tokens


def _describe_char(ch: str) -> str:
    return _quote(ch) if ch.isprintable() else f"U+{ord(ch):04X}"


def _read_string(query: str, start: int) -> tuple[Token, int]:
    quote, i, n = query[start], start + 1, len(query)
    out: list[str] = []
    while i < n:
        ch = query[i]
        if ch == quote:
            return Token("string", "".join(out), start), i + 1
        if ch == "\\":
            code = query[i + 1 : i + 2]
            if code in _ESCAPES:
                out.append(_ESCAPES[code])
                i += 2
                continue
            if code == "u" and re.fullmatch(r"[0-9A-Fa-f]{4}", query[i + 2 : i + 6]):
                ch = chr(int(query[i + 2 : i + 6], 16))
                if not _allowed_char(ch):
                    raise SearchError(f"character {_describe_char(ch)} is not allowed", i)
                out.append(ch)
                i += 6
                continue
            if not code:
                break
            raise SearchError(
                f"unknown escape {_quote(chr(92) + code)}",
                i,
                "use \\\\, \\\", \\', \\n, \\t, \\r or \\uXXXX",
            )
        if not _allowed_char(ch):
            raise SearchError(f"character {_describe_char(ch)} is not allowed", i)
        out.append(ch)
        i += 1
    raise SearchError("unterminated string", start)


def _allowed_char(ch: str) -> bool:
    """No NUL, other control characters (but tab/newline) or lone surrogates in values."""
    code = ord(ch)
    if ch in "\t\n\r":
        return True
    return code >= 0x20 and code != 0x7F and not 0xD800 <= code <= 0xDFFF


# --- syntax tree ----------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """One validated test: `field` is the canonical field name, `key` its path (split and
    metric, tag key, param path), `op` one of = != < <= > >= in ~ has, `values` cleaned."""

    field: str
    key: tuple[str, ...]
    op: str
    values: tuple[Any, ...]
    position: int


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


Node = Condition | And | Or | Not


def parse(query: str, kind: Kind = "versions") -> Node:
    """Parse and validate a query for versions or models; raises SearchError."""
    if kind not in ("versions", "models"):
        raise ValueError(f"unknown search kind {kind!r}")
    return _Parser(query, kind).parse()


class _Parser:
    def __init__(self, query: str, kind: Kind) -> None:
        self.query = query
        self.kind = kind
        self.tokens = tokenize(query)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "end":
            self.index += 1
        return token

    def at_keyword(self, word: str) -> bool:
        return self.current.kind == "keyword" and self.current.text == word

    def parse(self) -> Node:
        node = self.or_expr()
        token = self.current
        if token.kind != "end":
            hint = 'expected "and", "or" or the end of the query'
            raise SearchError(f"unexpected {token.describe()}", token.position, hint)
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.at_keyword("or"):
            self.advance()
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.at_keyword("and"):
            self.advance()
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_expr(self) -> Node:
        if self.at_keyword("not"):
            token = self.advance()
            with _Nested(self, token):
                return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Node:
        token = self.current
        if token.kind == "(":
            self.advance()
            with _Nested(self, token):
                node = self.or_expr()
            closing = self.current
            if closing.kind != ")":
                raise SearchError(
                    f'expected ")" to close "(" at {token.position}, found {closing.describe()}',
                    closing.position,
                )
            self.advance()
            return node
        if token.kind == "word":
            return self.condition()
        raise SearchError(
            f"expected a field name, found {token.describe()}",
            token.position,
            self._field_list() if token.kind == "end" and token.position == 0 else "",
        )

    def condition(self) -> Node:
        field_token = self.advance()
        field, key, type_ = self._resolve_field(field_token)
        token = self.current
        negate = False
        if token.kind == "keyword" and token.text == "not":
            following = self.tokens[self.index + 1]
            if following.kind == "keyword" and following.text == "in":
                negate = True
                self.advance()
                token = self.current
        if token.kind == "op" or (token.kind == "keyword" and token.text in ("in", "contains")):
            op = {"contains": "~"}.get(token.text, token.text)
            self.advance()
        else:
            op = "has"
        allowed = _PATH_OPS[field] if key else _FIELDS[field][1]
        label = field_token.text
        if op not in allowed:
            if op == "has":
                raise SearchError(
                    f"expected an operator after {_quote(label)}, found {token.describe()}",
                    token.position,
                )
            shown = ", ".join(o for o in _OP_ORDER if o in allowed and o != "has")
            raise SearchError(
                f"{label} does not support {_quote(token.text)}", token.position, f"use {shown}"
            )
        if op == "has":
            return Condition(field, key, op, (), field_token.position)
        raw = self._value_list(token) if op == "in" else [self._value(token)]
        values = tuple(_clean_value(field, type_, key, op, value) for value in raw)
        node: Node = Condition(field, key, op, values, field_token.position)
        if op == "!=":
            node = Not(Condition(field, key, "=", values, field_token.position))
        return Not(node) if negate else node

    def _value(self, after: Token) -> Token:
        token = self.current
        if token.kind in ("string", "number", "word"):
            return self.advance()
        raise SearchError(
            f"expected a value after {_quote(after.text)}, found {token.describe()}",
            token.position,
        )

    def _value_list(self, after: Token) -> list[Token]:
        opening = self.current
        if opening.kind != "(":
            raise SearchError(
                f'expected "(" after "in", found {opening.describe()}', opening.position
            )
        self.advance()
        values = [self._value(opening)]
        while self.current.kind == ",":
            comma = self.advance()
            if self.current.kind == ")":
                break
            values.append(self._value(comma))
        closing = self.current
        if closing.kind != ")":
            raise SearchError(
                f'expected "," or ")" in the "in" list, found {closing.describe()}',
                closing.position,
            )
        if len(values) > MAX_IN_VALUES:
            raise SearchError(f'"in" takes at most {MAX_IN_VALUES} values', opening.position)
        self.advance()
        return values

    def _resolve_field(self, token: Token) -> tuple[str, tuple[str, ...], str]:
        head, dot, rest = token.text.partition(".")
        head = head.lower()
        kinds = _PATH_FIELDS.get(head) if dot else None
        if kinds is not None and self.kind in kinds:
            return head, _path_key(head, rest, token.position + len(head) + 1), head
        if not dot and head in _FIELDS and self.kind in _FIELDS[head][2]:
            return head, (), _FIELDS[head][0]
        if not dot and head in _PATH_FIELDS and self.kind in _PATH_FIELDS[head]:
            raise SearchError(
                f"{head} needs a name after it", token.position, f"e.g. {_EXAMPLES[head]}"
            )
        raise SearchError(
            f"unknown field {_quote(token.text)}", token.position, self._suggest(token.text)
        )

    def _suggest(self, text: str) -> str:
        head, dot, rest = text.partition(".")
        plain = [f for f, spec in _FIELDS.items() if self.kind in spec[2]]
        paths = [f for f, kinds in _PATH_FIELDS.items() if self.kind in kinds]
        if dot:
            close = difflib.get_close_matches(head.lower(), paths, n=1, cutoff=0.6)
            if close:
                return f"did you mean {close[0]}.{rest}?"
        close = difflib.get_close_matches(text.lower(), plain + paths, n=1, cutoff=0.6)
        if close:
            return f"did you mean {close[0]}?"
        return self._field_list()

    def _field_list(self) -> str:
        plain = [f for f, spec in _FIELDS.items() if self.kind in spec[2]]
        paths = [_EXAMPLES[f] for f, kinds in _PATH_FIELDS.items() if self.kind in kinds]
        return f"{self.kind} have fields " + ", ".join(plain + paths)


_OP_ORDER = ("=", "!=", "<", "<=", ">", ">=", "in", "~")
_EXAMPLES = {"metrics": "metrics.test.auc", "params": "params.lr", "tags": "tags.owner"}


class _Nested:
    """Counts nesting of "(" and "not" so deep queries stop with a clear error."""

    def __init__(self, parser: _Parser, token: Token) -> None:
        self.parser = parser
        self.token = token

    def __enter__(self) -> None:
        self.parser.depth += 1
        if self.parser.depth > MAX_DEPTH:
            raise SearchError(
                f"query is nested too deeply (more than {MAX_DEPTH} levels)", self.token.position
            )

    def __exit__(self, *exc: object) -> None:
        self.parser.depth -= 1


def _path_key(head: str, rest: str, position: int) -> tuple[str, ...]:
    if head == "metrics":
        split, dot, name = rest.partition(".")
        if split.lower() not in _SPLITS:
            raise SearchError(
                f"unknown split {_quote(split)}",
                position,
                "use train, validation, test or business",
            )
        if not dot or not _NAME_RE.fullmatch(name):
            raise SearchError(
                f"expected a metric name after metrics.{split}",
                position + len(split) + (1 if dot else 0),
                "e.g. metrics.test.auc",
            )
        return split.lower(), name
    pattern = _TAG_KEY_RE if head == "tags" else _PARAM_RE
    if not pattern.fullmatch(rest):
        what = (
            "tag keys start with a letter or digit and use letters, digits and . _ : / -"
            if head == "tags"
            else "parameter names use letters, digits, _ and -, with . between nested keys"
        )
        raise SearchError(f"invalid {head[:-1]} name {_quote(rest)}", position, what)
    return (rest,) if head == "tags" else tuple(rest.split("."))


def _clean_value(field: str, type_: str, key: tuple[str, ...], op: str, token: Token) -> Any:
    """The Python value a condition compares with, or a SearchError at the value."""
    text, position = token.text, token.position
    if type_ in ("metrics", "int") or (type_ == "params" and op in ("<", "<=", ">", ">=")):
        label = field if not key else f"{field}." + ".".join(key)
        if token.kind != "number":
            raise SearchError(f"{label} compares with a number, found {token.describe()}", position)
        number = _number(token)
        if type_ == "int" and not (
            isinstance(number, int) and _INT_RANGE[0] <= number <= _INT_RANGE[1]
        ):
            raise SearchError(f"{label} compares with a whole number", position)
        return number
    if type_ == "params":
        if token.kind == "number" and op != "~":
            return _number(token)
        if token.kind == "word" and op != "~" and text.lower() in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[text.lower()]
        return text
    if type_ == "stage":
        return _choice(text, Stage, "stage", position)
    if type_ == "task":
        return _choice(text, TaskType, "task", position)
    if type_ == "date":
        return _date(text, field, position)
    return text  # text fields: numbers and words compare as they were written


def _number(token: Token) -> int | float:
    text = token.text
    try:
        if re.fullmatch(r"[-+]?\d{1,15}", text):
            return int(text)
        number = float(text)
    except (ValueError, OverflowError):  # pragma: no cover - the token regex prevents it
        number = math.inf
    if not math.isfinite(number):
        raise SearchError(f"number {_quote(text)} is out of range", token.position)
    return number


def _choice(text: str, choices: type[Stage] | type[TaskType], label: str, position: int) -> str:
    lowered = text.strip().lower()
    for value, name in choices.choices:
        if lowered in (value, str(name).lower()):
            return str(value)
    raise SearchError(
        f"{label} must be one of {', '.join(choices.values)}, found {_quote(text)}", position
    )


@dataclass(frozen=True)
class _Instant:
    """A compared moment: a datetime, or a whole day [start, end) when a date was given."""

    start: dt.datetime
    end: dt.datetime | None


def _date(text: str, field: str, position: int) -> _Instant:
    hint = 'use a date "2025-01-31" or a date and time "2025-01-31T14:30:00Z"'
    stripped = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", stripped):
            day = dt.date.fromisoformat(stripped)
            zone = timezone.get_current_timezone()
            start = timezone.make_aware(dt.datetime.combine(day, dt.time.min), zone)
            if day == dt.date.max:
                return _Instant(start, dt.datetime.max.replace(tzinfo=dt.UTC))
            following = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min)
            return _Instant(start, timezone.make_aware(following, zone))
        moment = dt.datetime.fromisoformat(stripped.replace("z", "Z"))
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, timezone.get_current_timezone())
        moment.astimezone(dt.UTC)  # out of range near year 1 / 9999 raises here
        return _Instant(moment, None)
    except (ValueError, OverflowError):
        raise SearchError(f"{field} needs a date, found {_quote(text)}", position, hint) from None


# --- compiling to Q -------------------------------------------------------------------


def version_filter(query: str) -> Q:
    """A Q for ModelVersion querysets; raises SearchError. Blank queries match everything."""
    return to_q(parse(query, "versions"), "versions") if query.strip() else Q()


def model_filter(query: str) -> Q:
    """A Q for RegisteredModel querysets; raises SearchError. Blank queries match everything."""
    return to_q(parse(query, "models"), "models") if query.strip() else Q()


def filter_versions(qs: QuerySet[ModelVersion], query: str) -> QuerySet[ModelVersion]:
    """Narrow an already visibility-scoped version queryset by a query."""
    return qs.filter(version_filter(query))


def filter_models(qs: QuerySet[RegisteredModel], query: str) -> QuerySet[RegisteredModel]:
    """Narrow an already visibility-scoped model queryset by a query."""
    return qs.filter(model_filter(query))


def to_q(node: Node, kind: Kind) -> Q:
    """The Q for a parsed tree (parse() already validated every name and value)."""
    if isinstance(node, And):
        result = Q()
        for item in node.items:
            result &= to_q(item, kind)
        return result
    if isinstance(node, Or):
        result = to_q(node.items[0], kind)
        for item in node.items[1:]:
            result |= to_q(item, kind)
        return result
    if isinstance(node, Not):
        return ~to_q(node.item, kind)
    return _condition_q(node, kind)


# Plain fields: the ORM path per kind (fixed names, never user text).
_PATHS = {
    "versions": {
        "stage": "stage",
        "task": "task_type",
        "framework": "framework",
        "team": "model__team__slug",
        "description": "description",
        "created": "created_at",
        "version": "version",
        "model": "model__name",
        "sequence": "sequence",
    },
    "models": {
        "task": "task_type",
        "framework": "framework",
        "team": "team__slug",
        "description": "description",
        "created": "created_at",
        "name": "name",
        "updated": "updated_at",
    },
}
# Text fields compared case-insensitively (names, slugs, frameworks are stored folded or
# unique whatever their case); tag values, versions and descriptions compare exactly.
_CASE_INSENSITIVE = frozenset({"framework", "team", "model", "name"})
_LOOKUPS = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte", "~": "icontains"}


def _condition_q(cond: Condition, kind: Kind) -> Q:
    if cond.field == "metrics":
        return _metric_q(cond)
    if cond.field == "tags":
        return _tag_q(cond, kind)
    if cond.field == "params":
        return _param_q(cond)
    if cond.field == "stage" and kind == "models":
        versions = ModelVersion.objects.filter(model=OuterRef("pk"), stage__in=cond.values)
        return Q(Exists(versions))
    path = _PATHS[kind][cond.field]
    if cond.field in ("created", "updated"):
        return _date_q(path, cond.op, cond.values[0])
    return _values_q(path, cond.op, cond.values, cond.field in _CASE_INSENSITIVE)


def _values_q(path: str, op: str, values: tuple[Any, ...], fold: bool) -> Q:
    """`path op value` (or "in" values) as field lookups."""
    if op == "in":
        if not fold:
            return Q(**{f"{path}__in": values})
        result = Q()
        for value in values:
            result |= Q(**{f"{path}__iexact": value})
        return result
    lookup = "iexact" if fold and op == "=" else _LOOKUPS[op]
    return Q(**{f"{path}__{lookup}": values[0]})


def _date_q(path: str, op: str, when: _Instant) -> Q:
    if when.end is None:
        return Q(**{f"{path}__{_LOOKUPS[op]}": when.start})
    start, end = when.start, when.end
    return {
        "=": Q(**{f"{path}__gte": start, f"{path}__lt": end}),
        "<": Q(**{f"{path}__lt": start}),
        "<=": Q(**{f"{path}__lt": end}),
        ">": Q(**{f"{path}__gte": end}),
        ">=": Q(**{f"{path}__gte": start}),
    }[op]


def _metric_q(cond: Condition) -> Q:
    split, name = cond.key
    metrics = Metric.objects.filter(version=OuterRef("pk"), split=split, name=name)
    if cond.op != "has":
        metrics = metrics.filter(_values_q("value", cond.op, cond.values, fold=False))
    return Q(Exists(metrics))


def _tag_q(cond: Condition, kind: Kind) -> Q:
    model = VersionTag if kind == "versions" else ModelTag
    owner = "version" if kind == "versions" else "model"
    tags = model.objects.filter(**{owner: OuterRef("pk")}, key=cond.key[0])
    if cond.op != "has":
        tags = tags.filter(_values_q("value", cond.op, cond.values, fold=False))
    return Q(Exists(tags))


def _param_q(cond: Condition) -> Q:
    """JSON key tests on `params`: the key is a KeyTransform (never a lookup string), the
    value a parameter; "has the key" guards every test so `not` is an exact complement."""
    target: Any = ExpressionWrapper(F("params"), output_field=JSONField())
    for part in cond.key:
        target = KeyTransform(part, target)
    present = Q(target.get_lookup("isnull")(target, False))
    if cond.op == "has":
        return present
    if cond.op in ("=", "in"):
        exact = target.get_lookup("exact")
        result = Q()
        for value in cond.values:
            result |= Q(exact(target, value)) & _params_contain(cond.key, value)
        return present & result
    if cond.op == "~":
        return present & Q(target.get_lookup("icontains")(target, str(cond.values[0])))
    # Ordered comparisons take numbers (parse() saw to it) and only ever match numbers:
    # JSON orders every string, boolean or object after every number.
    compare = Q(target.get_lookup(_LOOKUPS[cond.op])(target, cond.values[0]))
    return present & Q(_ParamIsNumber(cond.key)) & compare


class _ParamIsNumber(Func):
    """params holds a JSON number at `key` (each part matched _PARAM_RE; passed as SQL
    parameters all the same)."""

    output_field = BooleanField()

    def __init__(self, key: tuple[str, ...]) -> None:
        super().__init__(F("params"))
        self.key = key

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        raise NotSupportedError("params comparisons need PostgreSQL or SQLite")

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.source_expressions[0])
        return f"jsonb_typeof({column} #> %s::text[]) = 'number'", [*params, list(self.key)]

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        column, params = compiler.compile(self.source_expressions[0])
        path = "$" + "".join(f'."{part}"' for part in self.key)
        return f"json_type({column}, %s) IN ('integer', 'real')", [*params, path]


def _params_contain(key: tuple[str, ...], value: Any) -> Q:
    """`params @> {"a": {"b": value}}` where the database has it (PostgreSQL): true
    whenever params.a.b = value is, and a GIN index (migration registry 0014) serves it,
    which no index can do for the key path's own comparison. Elsewhere, nothing more."""
    if not connection.features.supports_json_field_contains:
        return Q()
    document = value
    for part in reversed(key):
        document = {part: document}
    return Q(params__contains=document)
