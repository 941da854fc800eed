"""MySQL column types (the protocol's field type codes, as PyMySQL's FIELD_TYPE and
mysql-connector's FieldType number them) as the portable classes. String and BLOB types
are bytes when their character set is `binary` (63), text otherwise."""

from __future__ import annotations

BINARY_CHARSET = 63

_TYPES: dict[int, tuple[str, str]] = {
    0: ("DECIMAL", "decimal"),
    1: ("TINY", "integer"),  # TINYINT, TINYINT(1) and BOOLEAN included
    2: ("SHORT", "integer"),
    3: ("LONG", "integer"),
    4: ("FLOAT", "float"),
    5: ("DOUBLE", "float"),
    6: ("NULL", "other"),
    7: ("TIMESTAMP", "timestamp"),
    8: ("LONGLONG", "integer"),
    9: ("INT24", "integer"),
    10: ("DATE", "date"),
    11: ("TIME", "time"),
    12: ("DATETIME", "timestamp"),
    13: ("YEAR", "integer"),
    14: ("NEWDATE", "date"),
    15: ("VARCHAR", "text"),
    16: ("BIT", "other"),
    245: ("JSON", "json"),
    246: ("NEWDECIMAL", "decimal"),
    247: ("ENUM", "text"),
    248: ("SET", "text"),
    249: ("TINY_BLOB", "text"),
    250: ("MEDIUM_BLOB", "text"),
    251: ("LONG_BLOB", "text"),
    252: ("BLOB", "text"),
    253: ("VAR_STRING", "text"),
    254: ("STRING", "text"),
    255: ("GEOMETRY", "other"),
}


def mysql_type(type_code: int, charset: int | None) -> tuple[str, str]:
    """(native name, class) of a field type code and its character set number."""
    native, cls = _TYPES.get(type_code, (f"type {type_code}", "other"))
    if cls == "text" and charset == BINARY_CHARSET and type_code not in (247, 248):
        return native, "bytes"
    return native, cls


# Client error numbers after which the connection is gone: CR_SERVER_GONE_ERROR,
# CR_SERVER_LOST, CR_SERVER_LOST_EXTENDED.
LOST_ERRNOS = frozenset({2006, 2013, 2055})
