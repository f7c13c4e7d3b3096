"""MLflow's search-filter grammar, parsed into ORM conditions (never SQL text).

    filter     := comparison ( AND comparison )*
    comparison := identifier op value
    identifier := name | version_number | run_id | source_path | tags.<key>
                  (keys may be quoted with `backticks` or "double quotes")
    op         := = | != | LIKE | ILIKE | IN | NOT IN      (and < <= > >= for version_number)
    value      := 'text' | "text" | number | ( value, ... )

Every mistake raises MlflowError(INVALID_PARAMETER_VALUE) naming what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db.models import CharField, Exists, OuterRef, Q, Value
from django.db.models.functions import Concat

from mlflow_api import names
from mlflow_api.errors import MlflowError, invalid
from registry.models import ModelTag, VersionTag

MAX_FILTER_LENGTH = 4000
MAX_IN_VALUES = 1000

_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>'(?:[^']|'')*'|"(?:[^"]|"")*")
    | (?P<backtick>`[^`]*`)
    | (?P<number>-?\d+(?:\.\d+)?)
    | (?P<op>!=|<>|>=|<=|=|>|<|\(|\)|,)
    | (?P<word>[A-Za-z_][A-Za-z0-9_.:/\-]*)
    )""",
    re.VERBOSE,
)


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    value: Any


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise invalid(
                f"Invalid filter: unexpected character at position {pos}: {text[pos : pos + 20]!r}."
            )
        kind = match.lastgroup or ""
        raw = match.group(kind)
        if kind == "string":
            quote = raw[0]
            value: Any = raw[1:-1].replace(quote * 2, quote)
        elif kind == "backtick":
            value = raw[1:-1]
        else:
            value = raw
        tokens.append(Token(kind, raw, value))
        pos = match.end()
    return tokens


@dataclass(frozen=True)
class Comparison:
    key: str  # "name", "version_number", "run_id", "source_path", or "tags"
    tag: str  # the tag key for "tags"
    op: str  # "=", "!=", "LIKE", "ILIKE", "IN", "NOT IN", "<", "<=", ">", ">="
    value: Any  # str, or a list of str for IN


class _Parser:
    def __init__(self, tokens: list[Token], keys: frozenset[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.keys = keys

    def peek(self) -> Token | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise invalid("Invalid filter: it ends too early.")
        self.pos += 1
        return token

    def word(self, token: Token | None, *words: str) -> bool:
        return token is not None and token.kind == "word" and token.text.upper() in words

    def parse(self) -> list[Comparison]:
        comparisons = [self.comparison()]
        while self.peek() is not None:
            token = self.take()
            if not self.word(token, "AND"):
                raise invalid(
                    f"Invalid filter: expected AND between comparisons, got {token.text!r} "
                    "(only AND is supported)."
                )
            comparisons.append(self.comparison())
        return comparisons

    def identifier(self) -> tuple[str, str]:
        token = self.take()
        if token.kind == "backtick":
            raise invalid(f"Invalid filter: {token.text} is not a searchable attribute.")
        if token.kind != "word":
            raise invalid(f"Invalid filter: expected an attribute, got {token.text!r}.")
        text = token.text
        lowered = text.lower()
        for prefix in ("tags.", "tag."):
            if lowered.startswith(prefix):
                key = text[len(prefix) :]
                if not key:  # tags.`my key` / tags."my key"
                    quoted = self.take()
                    if quoted.kind not in ("backtick", "string"):
                        raise invalid("Invalid filter: expected a tag key after 'tags.'.")
                    key = quoted.value
                if not key:
                    raise invalid("Invalid filter: a tag key must not be empty.")
                return "tags", key
        for prefix in ("attributes.", "attribute.", "attr."):
            if lowered.startswith(prefix):
                lowered = lowered[len(prefix) :]
        if lowered == "version":
            lowered = "version_number"
        if lowered not in self.keys:
            allowed = ", ".join(sorted(self.keys | {"tags.<key>"}))
            raise invalid(f"Invalid filter: unknown attribute {text!r}; use one of {allowed}.")
        return lowered, ""

    def comparison(self) -> Comparison:
        key, tag = self.identifier()
        token = self.take()
        if self.word(token, "NOT"):
            following = self.take()
            if not self.word(following, "IN", "LIKE", "ILIKE"):
                raise invalid("Invalid filter: NOT must be followed by IN.")
            op = "NOT " + following.text.upper()
        elif token.kind == "op" and token.text in ("=", "!=", "<>", "<", "<=", ">", ">="):
            op = "!=" if token.text == "<>" else token.text
        elif self.word(token, "LIKE", "ILIKE", "IN"):
            op = token.text.upper()
        else:
            raise invalid(f"Invalid filter: expected a comparison operator, got {token.text!r}.")
        numeric = key == "version_number"
        if op in ("<", "<=", ">", ">=") and not numeric:
            raise invalid(f"Invalid filter: {op} only compares version_number.")
        if op in ("IN", "NOT IN"):
            value: Any = self.value_list(numeric)
        else:
            value = self.value(numeric)
        if numeric and op in ("LIKE", "ILIKE", "NOT LIKE", "NOT ILIKE"):
            raise invalid("Invalid filter: version_number does not support LIKE.")
        return Comparison(key, tag, op, value)

    def value(self, numeric: bool) -> str:
        token = self.take()
        if token.kind in ("string", "number"):
            text = token.value
        else:
            raise invalid(f"Invalid filter: expected a quoted value, got {token.text!r}.")
        if numeric:
            if not re.fullmatch(r"\d{1,10}", text.strip()):
                raise invalid(f"Invalid filter: version_number must be an integer, got {text!r}.")
            return text.strip()
        if "\x00" in text:
            raise invalid("Invalid filter: values must not contain NUL characters.")
        return text

    def value_list(self, numeric: bool) -> list[str]:
        opening = self.take()
        if opening.text != "(":
            raise invalid("Invalid filter: IN takes a parenthesised list, e.g. IN ('a', 'b').")
        values = [self.value(numeric)]
        while True:
            token = self.take()
            if token.text == ")":
                break
            if token.text != ",":
                raise invalid(f"Invalid filter: expected ',' or ')' in a list, got {token.text!r}.")
            values.append(self.value(numeric))
        if len(values) > MAX_IN_VALUES:
            raise invalid(f"Invalid filter: at most {MAX_IN_VALUES} values in a list.")
        return values


def parse(text: Any, keys: frozenset[str]) -> list[Comparison]:
    if text is None or text == "":
        return []
    if not isinstance(text, str):
        raise invalid("Parameter 'filter' must be a string.")
    if len(text) > MAX_FILTER_LENGTH:
        raise invalid(f"Invalid filter: at most {MAX_FILTER_LENGTH} characters.")
    if not text.strip():
        return []
    return _Parser(tokenize(text), keys).parse()


def like_regex(pattern: str) -> str:
    """SQL LIKE → an anchored regular expression (% any run, _ one character)."""
    out = []
    for ch in pattern:
        if ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return "^" + "".join(out) + "$"


def text_q(field: str, op: str, value: Any) -> Q:
    """A condition on a text column for one of the string operators."""
    if op == "=":
        return Q(**{field: value})
    if op == "!=":
        return ~Q(**{field: value})
    if op in ("LIKE", "NOT LIKE"):
        q = Q(**{f"{field}__regex": like_regex(value)})
    elif op in ("ILIKE", "NOT ILIKE"):
        q = Q(**{f"{field}__iregex": like_regex(value)})
    elif op in ("IN", "NOT IN"):
        q = Q(**{f"{field}__in": value})
    else:
        raise invalid(f"Invalid filter: {op} does not compare text.")
    return ~q if op.startswith("NOT") else q


def name_q(user: Any, op: str, value: Any, prefix: str = "") -> Q:
    """`name` compares the MLflow name: equality resolves it as every endpoint does;
    patterns match the dotted name when they hold a dot, the bare model name otherwise."""
    at = f"{prefix}__" if prefix else ""
    if op in ("=", "!=", "IN", "NOT IN"):
        q = Q(pk__in=[])
        for raw in value if isinstance(value, list) else [value]:
            try:
                resolved = names.resolve(user, raw)
            except MlflowError:
                continue  # names nothing: matches nothing
            q |= Q(**{f"{at}team_id": resolved.team.pk, f"{at}name": resolved.name})
        return ~q if op in ("!=", "NOT IN") else q
    value = names.canonical(value, "filter")
    field = FULL_NAME if "." in value else f"{at}name"
    return text_q(field, op, value)


FULL_NAME = "mlflow_full_name"


def with_full_name(queryset: Any, prefix: str = "") -> Any:
    """The queryset with the dotted MLflow name to match patterns against."""
    at = f"{prefix}__" if prefix else ""
    return queryset.alias(
        **{FULL_NAME: Concat(f"{at}team__slug", Value("."), f"{at}name", output_field=CharField())}
    )


MODEL_KEYS = frozenset({"name"})
VERSION_KEYS = frozenset({"name", "version_number", "run_id", "source_path"})


def model_conditions(user: Any, comparisons: list[Comparison]) -> tuple[list[Any], bool]:
    """Conditions on RegisteredModel; the flag says whether the full name is needed."""
    conditions: list[Any] = []
    full = False
    for c in comparisons:
        if c.key == "name":
            q = name_q(user, c.op, c.value)
            full = full or _uses_full(q)
            conditions.append(q)
        else:
            conditions.append(_tag_condition(ModelTag, "model", c))
    return conditions, full


def version_conditions(user: Any, comparisons: list[Comparison]) -> tuple[list[Any], bool]:
    conditions: list[Any] = []
    full = False
    for c in comparisons:
        if c.key == "name":
            q = name_q(user, c.op, c.value, "model")
            full = full or _uses_full(q)
            conditions.append(q)
        elif c.key == "version_number":
            conditions.append(_number_q("sequence", c.op, c.value))
        elif c.key == "run_id":
            conditions.append(text_q("mlflow__run_id", c.op, c.value))
        elif c.key == "source_path":
            conditions.append(text_q("source", c.op, c.value))
        elif c.tag == "modelgate.version":
            conditions.append(text_q("version", c.op, c.value))
        else:
            conditions.append(_tag_condition(VersionTag, "version", c))
    return conditions, full


def _uses_full(q: Q) -> bool:
    return FULL_NAME in str(q)


def _number_q(field: str, op: str, value: Any) -> Q:
    lookups: dict[str, Callable[[Any], Q]] = {
        "=": lambda v: Q(**{field: int(v)}),
        "!=": lambda v: ~Q(**{field: int(v)}),
        "<": lambda v: Q(**{f"{field}__lt": int(v)}),
        "<=": lambda v: Q(**{f"{field}__lte": int(v)}),
        ">": lambda v: Q(**{f"{field}__gt": int(v)}),
        ">=": lambda v: Q(**{f"{field}__gte": int(v)}),
        "IN": lambda v: Q(**{f"{field}__in": [int(x) for x in v]}),
        "NOT IN": lambda v: ~Q(**{f"{field}__in": [int(x) for x in v]}),
    }
    return lookups[op](value)


def _tag_condition(tag_model: Any, owner: str, c: Comparison) -> Any:
    """A tag comparison. Positive operators need the tag with a matching value; negative
    ones (!=, NOT IN, NOT LIKE) match rows without such a tag, including rows without the
    tag at all, as MLflow's clients expect (they add `tag.mlflow.prompt.is_prompt != 'true'`
    to every model search)."""
    negated = c.op in ("!=", "NOT IN", "NOT LIKE", "NOT ILIKE")
    positive = {"!=": "=", "NOT IN": "IN", "NOT LIKE": "LIKE", "NOT ILIKE": "ILIKE"}.get(c.op, c.op)
    matching = tag_model.objects.filter(
        text_q("value", positive, c.value), **{owner: OuterRef("pk")}, key=c.tag
    )
    return ~Exists(matching) if negated else Exists(matching)
