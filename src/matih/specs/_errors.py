"""Turn pydantic ValidationErrors into SpecErrors that name the file, the JSON path and the expectation.

pydantic's own messages ("Input should be 'overwrite' or 'append'") and locations
(``tasks.2.sql_execute.config``, with the union tag in the middle) are written for Python developers;
spec authors get ``$.tasks[2].config.write_mode: expected one of 'overwrite', 'append', got 'replace'``.
"""

from __future__ import annotations

import difflib
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ValidationError
from pydantic.fields import FieldInfo

from matih.exceptions import SpecError
from matih.specs.common import _check_secret_ref as _secret_check
from matih.specs.common import json_path

__all__ = ["spec_errors"]

_MAX_SHOWN = 60


def spec_errors(exc: ValidationError, model: type[BaseModel], data: Any, file: str | None) -> list[SpecError]:
    """One SpecError per pydantic error, in document order."""
    return [_one(err, model, data, file) for err in exc.errors(include_url=False)]


def _one(err: Any, model: type[BaseModel], data: Any, file: str | None) -> SpecError:
    raw_loc: tuple[str | int, ...] = tuple(err["loc"])
    clean = _strip_tags(raw_loc, data)
    target = _Target.resolve(model, raw_loc, data)
    kind: str = err["type"]
    ctx: dict[str, Any] = err.get("ctx") or {}
    given = "" if target.secret else f", got {_show(err.get('input'))}"

    if kind in ("union_tag_invalid", "union_tag_not_found"):
        key = str(ctx.get("discriminator", "'type'")).strip("'")
        what = f"{_singular(raw_loc)} {key}".strip()
        expected = ", ".join(repr(t) for t in target.tags) or ctx.get("expected_tags", "")
        if kind == "union_tag_invalid":
            message = f"unknown {what} {ctx.get('tag')!r}; expected one of {expected}"
        else:
            message = f"missing {key!r}; expected one of {expected}"
        return SpecError(message, file=file, path=json_path((*clean, key)))

    message = _describe(kind, ctx, err, target, given)
    return SpecError(message, file=file, path=json_path(clean))


def _describe(kind: str, ctx: dict[str, Any], err: Any, target: _Target, given: str) -> str:
    field = target.name
    if kind == "missing":
        hint = f" ({target.doc})" if target.doc else ""
        return f"missing required field {field!r}{hint}"
    if kind == "extra_forbidden":
        message = f"unknown field {field!r}"
        if target.siblings:
            close = difflib.get_close_matches(str(field), target.siblings, n=1)
            if close:
                message += f" (did you mean {close[0]!r}?)"
            message += f"; allowed fields: {', '.join(target.siblings)}"
        return message
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"])).removeprefix("Value error, ")
    if kind == "spec_rule":
        return str(err["msg"])
    if kind == "literal_error":
        options = [o.strip() for o in str(ctx.get("expected", "")).replace(" or ", ", ").split(", ")]
        if len(options) == 1:
            return f"expected {options[0]}{given}"
        return f"expected one of {', '.join(options)}{given}"
    simple = {
        "int_parsing": "an integer",
        "int_type": "an integer",
        "int_from_float": "a whole number",
        "float_parsing": "a number",
        "float_type": "a number",
        "finite_number": "a finite number",
        "bool_parsing": "true or false",
        "bool_type": "true or false",
        "string_type": "a string",
        "list_type": "a list",
        "tuple_type": "a list",
        "dict_type": "an object",
        "model_type": "an object",
        "model_attributes_type": "an object",
        "date_parsing": "a date like '2024-01-01'",
        "date_from_datetime_parsing": "a date like '2024-01-01'",
        "date_type": "a date like '2024-01-01'",
    }
    if kind in simple:
        return f"expected {simple[kind]}{given}"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        limit = next(iter(ctx.values()), "?")
        if isinstance(limit, float) and limit.is_integer():
            limit = int(limit)
        return f"expected a number {bounds[kind]} {limit}{given}"
    if kind == "too_short":
        count = ctx.get("min_length", 1)
        return f"expected at least {count} item{'s' if count != 1 else ''}{given}"
    if kind == "too_long":
        return f"expected at most {ctx.get('max_length')} items{given}"
    if kind == "string_too_short":
        return f"expected a non-empty string{given}"
    if kind == "string_pattern_mismatch":
        return f"expected a string matching {ctx.get('pattern')}{given}"
    return f"{err['msg'][0].lower()}{err['msg'][1:]}{given}"


def _show(value: Any) -> str:
    """A short JSON-flavoured rendering of a rejected value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        text = repr(value)
        return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + "...'"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _singular(loc: tuple[str | int, ...]) -> str:
    """``("tasks", 2)`` -> ``"task"``: names what the discriminated item is."""
    for part in reversed(loc):
        if isinstance(part, str):
            return part.removesuffix("s")
    return ""


def _strip_tags(loc: tuple[str | int, ...], data: Any) -> tuple[str | int, ...]:
    """Drop the union-tag segments pydantic inserts (``tasks.2.sql_execute.config``).

    A segment is a tag when the object at that point has no such key but carries it as its ``type``.
    """
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        is_tag = (
            isinstance(node, dict) and isinstance(part, str) and part not in node and node.get("type") == part
        )
        if is_tag and i < len(loc) - 1:
            continue
        out.append(part)
        node = _child(node, part)
    return tuple(out)


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
        return node[part]
    return None


def _strip(tp: Any) -> Any:
    """Remove ``Annotated`` and ``Optional`` wrappers."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _members(tp: Any) -> list[type[BaseModel]]:
    if get_origin(tp) in (Union, types.UnionType):
        return [_strip(a) for a in get_args(tp) if _is_model(_strip(a))]
    return []


def _tags(model: type[BaseModel]) -> tuple[Any, ...]:
    field = model.model_fields.get("type")
    if field is None or get_origin(field.annotation) is not Literal:
        return ()
    return get_args(field.annotation)


def _mentions_secret(obj: Any) -> bool:
    if isinstance(obj, AfterValidator):
        return obj.func is _secret_check
    if isinstance(obj, FieldInfo):
        return any(_mentions_secret(m) for m in obj.metadata) or _mentions_secret(obj.annotation)
    return any(_mentions_secret(a) for a in get_args(obj))


class _Target:
    """What the schema says about the location of an error: field name, docstring, siblings, tags."""

    def __init__(self) -> None:
        self.name: str | int | None = None
        self.doc: str | None = None
        self.siblings: list[str] = []
        self.tags: list[str] = []
        self.secret = False

    @classmethod
    def resolve(cls, model: type[BaseModel], loc: tuple[str | int, ...], data: Any) -> _Target:
        target = cls()
        tp: Any = model
        node = data
        for part in loc:
            tp = _strip(tp)
            members = _members(tp)
            if members:
                tagged = [m for m in members if part in _tags(m)]
                if tagged and not (isinstance(node, dict) and part in node):
                    tp = tagged[0]
                    continue
                tp = _best_member(members, node)
            target.name = part
            if _is_model(tp):
                target.siblings = list(tp.model_fields)
                field = tp.model_fields.get(part) if isinstance(part, str) else None
                if field is None:
                    target.doc, target.secret = None, False
                    tp = None
                else:
                    # docstrings use reST ``literals``; plain quotes read better in a terminal
                    doc = (field.description or "").split("\n")[0].replace("``", "").rstrip(".")
                    target.doc = doc or None
                    target.secret = _mentions_secret(field)
                    tp = field.annotation
            elif get_origin(tp) in (list, tuple):
                args = get_args(tp)
                tp = args[part] if isinstance(part, int) and len(args) > 1 and part < len(args) else args[0]
            elif get_origin(tp) is dict:
                tp = get_args(tp)[1]
            else:
                tp = None
            node = _child(node, part)
        members = _members(_strip(tp)) if tp is not None else []
        target.tags = [str(tag) for m in members for tag in _tags(m)]
        return target


def _best_member(members: list[type[BaseModel]], node: Any) -> type[BaseModel]:
    """The union member whose fields overlap the input's keys most (untagged unions, e.g. source config)."""
    keys = set(node) if isinstance(node, dict) else set()
    return max(members, key=lambda m: len(keys & set(m.model_fields)))
