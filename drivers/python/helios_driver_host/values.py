"""The protocol's value encoding (docs/driver-host.md, Values): a driver's value is encoded
by its Python type, never by guessing from its text. The column's class only decides what
a type alone cannot: text that is a JSON document, an array or a UUID, a list that is a
PostgreSQL array rather than a JSON array, a `timedelta` that is MySQL's TIME."""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

# What json.loads gives back and json.dumps takes.
Json = Any

# Column classes whose values keep their tag when a driver hands them over as text.
TEXT_TAGGED = frozenset({"json", "array", "uuid"})


def encode(value: object, cls: str | None = None) -> Json:
    """One driver value as JSON; `cls` is its column's portable class, when known."""
    # bool before int: bool is a subclass of int.
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        # Text a driver gives for a typed column is that type's text: asyncpg's json,
        # psycopg2's uuid, the Snowflake connector's VARIANT and ARRAY.
        return {cls: value} if cls in TEXT_TAGGED else value
    if isinstance(value, int):
        return int(value)  # int subclasses (IntEnum, numpy-free drivers' own) as plain ints
    if isinstance(value, float):
        return encode_float(value)
    if isinstance(value, Decimal):
        return {"decimal": decimal_text(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"bytes": base64.b64encode(bytes(value)).decode("ascii")}
    # datetime before date: datetime is a subclass of date.
    if isinstance(value, dt.datetime):
        return {"timestamp": timestamp_text(value)}
    if isinstance(value, dt.date):
        return {"date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"time": time_text(value)}
    if isinstance(value, dt.timedelta):
        if cls == "time":
            return {"time": mysql_time_text(value)}
        return {"interval": interval_text(value)}
    if isinstance(value, uuid.UUID):
        return {"uuid": str(value)}
    if isinstance(value, list | tuple) and cls == "array":
        return {"array": pg_array_text(value)}
    if isinstance(value, dict | list):
        return {"json": json.dumps(value, ensure_ascii=False)}
    return {"other": str(value)}


def encode_row(row: Sequence[object], classes: Sequence[str | None]) -> list[Json]:
    """A row's values, each with its column's class (None past the known columns)."""
    return [encode(v, classes[i] if i < len(classes) else None) for i, v in enumerate(row)]


def encode_float(value: float) -> Json:
    if math.isnan(value):
        return {"float": "NaN"}
    if math.isinf(value):
        return {"float": "Infinity" if value > 0 else "-Infinity"}
    return value


def decimal_text(value: Decimal) -> str:
    # Positional notation keeps the scale (1.50) and never switches to 1E+2 the way str()
    # does; NaN and the infinities print as PostgreSQL prints them.
    if value.is_nan():
        return "NaN"
    if value.is_infinite():
        return "-Infinity" if value.is_signed() else "Infinity"
    return format(value, "f")


def _fraction(microseconds: int) -> str:
    return f".{microseconds:06d}".rstrip("0") if microseconds else ""


def offset_text(offset: dt.timedelta) -> str:
    """`+00`, `+05:30`, `-03`: a UTC offset as PostgreSQL prints it."""
    sign = "-" if offset < dt.timedelta(0) else "+"
    seconds = int(abs(offset).total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = f"{sign}{hours:02d}"
    if minutes or secs:
        text += f":{minutes:02d}"
    if secs:
        text += f":{secs:02d}"
    return text


def time_text(value: dt.time) -> str:
    text = f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_fraction(value.microsecond)}"
    offset = value.utcoffset()
    return text if offset is None else text + offset_text(offset)


def timestamp_text(value: dt.datetime) -> str:
    text = f"{value.date().isoformat()} {time_text(value.time())}"
    offset = value.utcoffset()
    return text if offset is None else text + offset_text(offset)


def interval_text(value: dt.timedelta) -> str:
    """PostgreSQL's interval output (`1 day 04:05:06`, `-2 days -00:00:01.5`). A negative
    timedelta prints with both parts negative, as PostgreSQL prints such an interval."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    parts = []
    if value.days:
        parts.append(f"{sign}{value.days} day{'' if value.days == 1 else 's'}")
    hours, rest = divmod(value.seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if value.seconds or value.microseconds or not value.days:
        clock = f"{hours:02d}:{minutes:02d}:{seconds:02d}{_fraction(value.microseconds)}"
        parts.append(sign + clock if sign and clock != "00:00:00" else clock)
    return " ".join(parts)


def mysql_time_text(value: dt.timedelta) -> str:
    """MySQL's TIME, which drivers hand back as a timedelta, as MySQL prints it: hours
    past 24 stay hours (`838:59:59`), a negative one has one leading minus."""
    sign = "-" if value < dt.timedelta(0) else ""
    value = abs(value)
    total = value.days * 86400 + value.seconds
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}{_fraction(value.microseconds)}"


def _element_text(value: object) -> str:
    """An array element's text as PostgreSQL prints it, before quoting."""
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, bytes | bytearray | memoryview):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    encoded = encode(value)
    if isinstance(encoded, dict):
        # The tagged types' text: {"decimal": "1.50"}, {"date": …}, {"float": "NaN"}, …
        return str(next(iter(encoded.values())))
    return str(encoded)


def _array_element(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        return pg_array_text(value)
    text = _element_text(value)
    # PostgreSQL quotes an element that is empty, reads as NULL or holds a delimiter, a
    # quote, a backslash or blank space.
    if text == "" or text.upper() == "NULL" or any(c in text for c in '{},"\\ \t\n\r\v\f'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def pg_array_text(items: Sequence[object]) -> str:
    """A (possibly nested) list as PostgreSQL prints an array: `{1,2,3}`, `{"a b",c}`."""
    return "{" + ",".join(_array_element(v) for v in items) + "}"


def decode_param(value: Json) -> object:
    """A request's parameter as the native Python value the driver binds."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict) and len(value) == 1 and "float" in value:
        return float(value["float"])
    raise ValueError(f"unsupported parameter value {json.dumps(value)}")
