"""Types shared by every spec kind: durations, cron expressions, secret references, the base model.

Secrets are references (``"${SHOPIFY_API_KEY}"``) that stay literal in every parsed model; they are
resolved from the environment only at run time, by :func:`resolve_secrets`, so a parsed or dumped
spec can never carry a secret value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from croniter import croniter
from pydantic import AfterValidator, BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from matih.exceptions import SecretError

__all__ = [
    "CronExpression",
    "Duration",
    "Identifier",
    "NotificationTarget",
    "SecretRef",
    "SpecModel",
    "TableName",
    "display_path",
    "find_secret_refs",
    "json_path",
    "matching",
    "missing_secrets",
    "parse_notification_target",
    "raise_spec_errors",
    "resolve_secrets",
]


class SpecModel(BaseModel):
    """Base of every spec document and sub-object: unknown fields are errors, fields are documented."""

    # hide_input_in_errors: a rejected value may be a pasted secret, so pydantic's own repr of the
    # error must not echo it; our formatter decides per error type whether echoing is safe.
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True, hide_input_in_errors=True)


def raise_spec_errors(title: str, problems: Iterable[tuple[tuple[str | int, ...], str]]) -> None:
    """Raise one ValidationError carrying every ``(loc, message)`` problem found by a model validator.

    A plain ValueError would land on the model itself; this keeps each problem at the exact location
    (e.g. ``tasks[2].depends_on[0]``) and lets one document report all of them at once.
    """
    details = [
        InitErrorDetails(
            type=PydanticCustomError("spec_rule", "{detail}", {"detail": message}), loc=loc, input=None
        )
        for loc, message in problems
    ]
    if details:
        raise ValidationError.from_exception_data(title, details)


def matching(regex: str, expected: str) -> AfterValidator:
    """Validator requiring a full match of ``regex``; the error says ``expected <expected>, got '...'``.

    Used instead of ``Field(pattern=...)`` so the message describes the form in words, not as a regex.
    """
    compiled = re.compile(regex)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value

    return AfterValidator(check)


Identifier = Annotated[
    str,
    matching(
        r"[A-Za-z0-9][A-Za-z0-9_.-]*",
        "an id of letters, digits, '_', '.' or '-', like 'demand-forecast-daily'",
    ),
]
"""A name used as a reference: pipeline ids, task ids, deployment and suite names."""

TableName = Annotated[
    str,
    matching(
        r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}",
        "a table name like 'analytics.derived.demand_features' ([catalog.][schema.]table)",
    ),
]
"""A warehouse table, optionally qualified by schema and catalog."""


# --------------------------------------------------------------------------------------------- durations

_DURATION_RE = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION_FORMS = "an integer followed by s, m, h, d or w, like '60s', '30m', '2h', '14d' or '13w'"


class Duration(timedelta):
    """A positive duration written as ``"60s"``, ``"30m"``, ``"2h"``, ``"14d"`` or ``"13w"``.

    It *is* a ``timedelta`` (compare, add, ``total_seconds()``), and keeps the text it was written as
    in :attr:`text` so a spec dumps back exactly as it was read.
    """

    text: str

    def __new__(cls, *args: Any, text: str | None = None, **kwargs: Any) -> Duration:
        self = super().__new__(cls, *args, **kwargs)
        self.text = text if text is not None else _format_duration(self)
        return self

    @classmethod
    def parse(cls, value: str | timedelta) -> Duration:
        """Parse ``"2h"`` (or wrap a timedelta); raise ValueError naming the accepted forms."""
        if isinstance(value, Duration):
            return value
        if isinstance(value, timedelta):
            return cls(seconds=value.total_seconds(), text=_format_duration(value))
        if not isinstance(value, str):
            raise ValueError(f"expected a duration string ({_DURATION_FORMS}), got {type(value).__name__}")
        match = _DURATION_RE.match(value)
        if match is None:
            raise ValueError(f"expected a duration as {_DURATION_FORMS}, got {value!r}")
        amount, unit = int(match.group(1)), match.group(2)
        if amount <= 0:
            raise ValueError(f"expected a positive duration, got {value!r}")
        return cls(seconds=amount * _UNIT_SECONDS[unit], text=value)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Duration({self.text!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # timedelta's reduce would rebuild from (days, seconds, us) and lose the original text.
        return (Duration.parse, (self.text,))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls.parse,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: v.text if isinstance(v, Duration) else _format_duration(v), when_used="json"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(cls, schema: core_schema.CoreSchema, handler: Any) -> JsonSchemaValue:
        return {"type": "string", "pattern": _DURATION_RE.pattern, "examples": ["60s", "30m", "2h", "14d"]}


def _format_duration(value: timedelta) -> str:
    seconds = value.total_seconds()
    if seconds <= 0 or seconds != int(seconds):
        raise ValueError(f"expected a positive whole number of seconds, got {seconds}s")
    whole = int(seconds)
    for unit in ("d", "h", "m"):
        if whole % _UNIT_SECONDS[unit] == 0:
            return f"{whole // _UNIT_SECONDS[unit]}{unit}"
    return f"{whole}s"


# ------------------------------------------------------------------------------------------------- cron

_CRON_HINT = (
    "expected a 5-field cron expression like '0 2 * * *' (minute hour day-of-month month day-of-week)"
)


def _check_cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(f"{value!r} has {len(fields)} field(s); {_CRON_HINT}")
    # croniter also takes 6/7-field and '@daily' forms; the 5-field check above keeps specs portable
    # to Temporal and plain crontab.
    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression (a field is out of range); {_CRON_HINT}")
    return value


CronExpression = Annotated[str, AfterValidator(_check_cron)]
"""A 5-field cron expression, e.g. ``"0 2 * * *"`` (02:00 every day)."""


# ---------------------------------------------------------------------------------------------- secrets

_SECRET_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_WHOLE_SECRET_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*\}$")


def _check_secret_ref(value: str) -> str:
    if not _WHOLE_SECRET_RE.match(value):
        # Never echo the value: it is most likely the secret itself pasted into the file.
        raise ValueError(
            'expected a secret reference like "${SHOPIFY_API_KEY}"; put the value in an environment '
            "variable and reference it here (secrets are never stored in workspace files)"
        )
    return value


SecretRef = Annotated[str, AfterValidator(_check_secret_ref)]
"""A string that must be exactly one ``${NAME}`` reference; resolved only at run time."""


def find_secret_refs(value: Any) -> list[str]:
    """Names of every ``${NAME}`` in a string, mapping, list or model, in order of first appearance."""
    names: list[str] = []
    for _, text in _walk_strings(_plain(value), "$"):
        for name in _SECRET_RE.findall(text):
            if name not in names:
                names.append(name)
    return names


def resolve_secrets(
    obj: Any, *, file: str | None = None, path: str = "", env: Mapping[str, str] | None = None
) -> Any:
    """Deep copy of ``obj`` with every ``${NAME}`` replaced by ``env[NAME]`` (default: ``os.environ``).

    Models are dumped to JSON-compatible dicts first (a resolved value would no longer be a valid
    ``SecretRef``). Raises :class:`SecretError` naming the variable, the file and the JSON path of the
    first reference that has no value; the error never contains any secret value.
    """
    return _resolve(_plain(obj), path or "$", file, os.environ if env is None else env)


def _resolve(value: Any, path: str, file: str | None, env: Mapping[str, str]) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in env:
                raise SecretError(name, file=file, path=path)
            return env[name]

        return _SECRET_RE.sub(substitute, value)
    if isinstance(value, Mapping):
        return {key: _resolve(item, json_path((key,), path), file, env) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_resolve(item, json_path((i,), path), file, env) for i, item in enumerate(value)]
    return value


def missing_secrets(obj: Any, *, file: str | None = None) -> list[SecretError]:
    """One SecretError per reference (name and path) whose variable is unset; nothing is resolved."""
    errors: list[SecretError] = []
    for path, text in _walk_strings(_plain(obj), "$"):
        for name in _SECRET_RE.findall(text):
            if name not in os.environ:
                errors.append(SecretError(name, file=file, path=path))
    return errors


def _plain(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    return value


def _walk_strings(value: Any, path: str) -> Iterable[tuple[str, str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _walk_strings(item, json_path((key,), path))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _walk_strings(item, json_path((i,), path))


def display_path(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the current directory when it lies below it, else as given."""
    p = Path(path)
    try:
        return p.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return p.as_posix()


_IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def json_path(loc: Iterable[str | int], root: str = "$") -> str:
    """``("tasks", 2, "config")`` -> ``"$.tasks[2].config"``; odd keys use ``['Food & Grocery']``."""
    out = root
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT_RE.match(str(part)):
            out += f".{part}"
        else:
            out += "[" + repr(str(part)) + "]"
    return out


# ------------------------------------------------------------------------------------ notification targets

_TARGET_RE = re.compile(r"^(slack):(#?[A-Za-z0-9][A-Za-z0-9._-]*)$")


@dataclass(frozen=True)
class ParsedTarget:
    """A ``"slack:#ml-ops-alerts"`` target split into channel kind and target."""

    channel: str
    target: str


def parse_notification_target(value: str) -> ParsedTarget:
    """Split ``"slack:#ml-ops-alerts"``; raise ValueError showing the accepted form."""
    match = _TARGET_RE.match(value.strip())
    if match is None:
        raise ValueError(f"expected a notification target like 'slack:#ml-ops-alerts', got {value!r}")
    return ParsedTarget(channel=match.group(1), target=match.group(2))


def _check_target(value: str) -> str:
    parse_notification_target(value)
    return value


NotificationTarget = Annotated[str, AfterValidator(_check_target)]
"""A ``"<channel>:<target>"`` string; only ``slack:`` is supported, e.g. ``"slack:#ml-ops-alerts"``."""
