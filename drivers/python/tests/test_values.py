"""The Values table of docs/driver-host.md: each Python type a driver returns, encoded by
its type, survives the trip through JSON as the table says."""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from decimal import Decimal
from typing import Any

import pytest

from helios_driver_host.values import decode_param, encode, encode_row, pg_array_text

UTC = dt.UTC


def wire(value: object, cls: str | None = None) -> Any:
    """Encoded, written as the host writes it and read back."""
    return json.loads(json.dumps(encode(value, cls), allow_nan=False))


class Custom:
    def __str__(self) -> str:
        return "custom text"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (True, True),
        (False, False),
        (0, 0),
        (42, 42),
        (-7, -7),
        (9223372036854775807, 9223372036854775807),
        (2**70, 2**70),
        ("txt", "txt"),
        ("", ""),
        ("日本語 🚀", "日本語 🚀"),
        (0.5, 0.5),
        (-0.25, -0.25),
        (1e300, 1e300),
        (float("inf"), {"float": "Infinity"}),
        (float("-inf"), {"float": "-Infinity"}),
        (Decimal("1.50"), {"decimal": "1.50"}),
        (Decimal("-0.000001"), {"decimal": "-0.000001"}),
        (Decimal("1E+2"), {"decimal": "100"}),
        (Decimal("NaN"), {"decimal": "NaN"}),
        (Decimal("-Infinity"), {"decimal": "-Infinity"}),
        (b"\n\x00\xff", {"bytes": "CgD/"}),
        (bytearray(b"\n\xff"), {"bytes": "Cv8="}),
        (memoryview(b"\n\xff"), {"bytes": "Cv8="}),
        (b"", {"bytes": ""}),
        (dt.date(2024, 1, 2), {"date": "2024-01-02"}),
        (dt.time(3, 4, 5), {"time": "03:04:05"}),
        (dt.time(3, 4, 5, 500000), {"time": "03:04:05.5"}),
        (dt.time(3, 4, 5, 120), {"time": "03:04:05.00012"}),
        (dt.time(3, 4, 5, tzinfo=UTC), {"time": "03:04:05+00"}),
        (dt.datetime(2024, 1, 2, 3, 4, 5), {"timestamp": "2024-01-02 03:04:05"}),
        (dt.datetime(2024, 1, 2, 3, 4, 5, 120000), {"timestamp": "2024-01-02 03:04:05.12"}),
        (dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), {"timestamp": "2024-01-02 03:04:05+00"}),
        (
            dt.datetime(
                2024, 1, 2, 3, 4, 5, 1, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30))
            ),
            {"timestamp": "2024-01-02 03:04:05.000001+05:30"},
        ),
        (
            dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=-3))),
            {"timestamp": "2024-01-02 03:04:05-03"},
        ),
        (dt.timedelta(days=1, hours=4, minutes=5, seconds=6), {"interval": "1 day 04:05:06"}),
        (dt.timedelta(days=428, seconds=14706), {"interval": "428 days 04:05:06"}),
        (dt.timedelta(days=2), {"interval": "2 days"}),
        (dt.timedelta(0), {"interval": "00:00:00"}),
        (dt.timedelta(seconds=1.5), {"interval": "00:00:01.5"}),
        (dt.timedelta(seconds=-1), {"interval": "-00:00:01"}),
        (-dt.timedelta(days=3, hours=4), {"interval": "-3 days -04:00:00"}),
        (-dt.timedelta(days=3), {"interval": "-3 days"}),
        (
            uuid.UUID("123e4567-e89b-12d3-a456-426614174000"),
            {"uuid": "123e4567-e89b-12d3-a456-426614174000"},
        ),
        ({"a": 1}, {"json": '{"a": 1}'}),
        ({"k": [1, "é"]}, {"json": '{"k": [1, "é"]}'}),
        ([1, 2], {"json": "[1, 2]"}),
        (Custom(), {"other": "custom text"}),
    ],
)
def test_encoding_by_type(value: object, expected: Any) -> None:
    assert wire(value) == expected


def test_float_keeps_a_fraction_or_exponent_on_the_wire() -> None:
    assert json.dumps(encode(2.0)) == "2.0"
    assert json.dumps(encode(1e300)) == "1e+300"
    assert json.dumps(encode(0.1)) == "0.1"


def test_nan_is_tagged_never_bare() -> None:
    assert wire(float("nan")) == {"float": "NaN"}


def test_bool_is_not_taken_for_an_integer() -> None:
    assert encode(True) is True
    assert encode(1) == 1
    assert encode(1) is not True


def test_datetime_is_a_timestamp_not_a_date() -> None:
    # datetime is a subclass of date: it must not lose its time.
    assert "timestamp" in encode(dt.datetime(2024, 1, 2))


def test_column_class_decides_what_a_type_alone_cannot() -> None:
    # Text from a json column is the document's text, kept as the server sent it.
    assert wire('{"b":2}', "json") == {"json": '{"b":2}'}
    # A list from an array column is PostgreSQL's text form, not a JSON array.
    assert wire([1, 2, 3], "array") == {"array": "{1,2,3}"}
    assert wire([1, 2, 3], "json") == {"json": "[1, 2, 3]"}
    # MySQL's TIME comes back as a timedelta; in a time column it is a time of day.
    assert wire(dt.timedelta(seconds=11045, microseconds=500000), "time") == {"time": "03:04:05.5"}
    assert wire(dt.timedelta(hours=838, minutes=59, seconds=59), "time") == {"time": "838:59:59"}
    assert wire(-dt.timedelta(hours=1), "time") == {"time": "-01:00:00"}
    # psycopg2 hands a uuid column over as text.
    assert wire("123e4567-e89b-12d3-a456-426614174000", "uuid") == {
        "uuid": "123e4567-e89b-12d3-a456-426614174000"
    }
    # Plain text stays plain whatever else the column is.
    assert wire("x", "text") == "x"
    assert wire("x", "other") == "x"


@pytest.mark.parametrize(
    ("items", "text"),
    [
        ([1, 2, 3], "{1,2,3}"),
        (["a b", "c"], '{"a b",c}'),
        ([], "{}"),
        ([[1, 2], [3, None]], "{{1,2},{3,NULL}}"),
        (
            ["", "NULL", "null", 'q"', "b\\", "x,y", "{}"],
            '{"","NULL","null","q\\"","b\\\\","x,y","{}"}',
        ),
        ([True, False], "{t,f}"),
        ([Decimal("1.50"), 0.5], "{1.50,0.5}"),
        ([dt.date(2024, 1, 2)], "{2024-01-02}"),
        ([dt.datetime(2024, 1, 2, 3, 4, 5)], '{"2024-01-02 03:04:05"}'),
        ([b"\n\xff"], '{"\\\\x0aff"}'),
        ([uuid.UUID(int=1)], "{00000000-0000-0000-0000-000000000001}"),
    ],
)
def test_pg_array_text(items: list[object], text: str) -> None:
    assert pg_array_text(items) == text


def test_encode_row_uses_each_columns_class() -> None:
    row = encode_row(["{}", [1], "{}"], ["json", "array", None])
    assert row == [{"json": "{}"}, {"array": "{1}"}, "{}"]


def test_every_encoding_is_strict_json() -> None:
    values: list[object] = [
        float("nan"),
        Decimal("NaN"),
        b"\x00",
        dt.datetime.now(UTC),
        dt.timedelta(days=-1, seconds=5),
        {"nested": [1.5, None]},
    ]
    for v in values:
        json.dumps(encode(v), allow_nan=False)


def test_parameters_decode_to_native_values() -> None:
    assert decode_param(None) is None
    assert decode_param(True) is True
    assert decode_param(7) == 7
    assert decode_param(0.5) == 0.5
    assert decode_param("12.340") == "12.340"
    assert math.isnan(float(str(decode_param({"float": "NaN"}))))
    assert decode_param({"float": "-Infinity"}) == float("-inf")
    with pytest.raises(ValueError, match="unsupported parameter"):
        decode_param({"decimal": "1.5"})
    with pytest.raises(ValueError, match="unsupported parameter"):
        decode_param([1, 2])
