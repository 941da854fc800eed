"""PostgreSQL type OIDs (from pg_type.dat) as the portable classes, for the drivers that
report a column's type as its OID (psycopg2's `type_code`, asyncpg's `Type.oid`)."""

from __future__ import annotations

# OID → (type name, class). Array types are `_name` → `array`.
_SCALARS: dict[int, tuple[str, str]] = {
    16: ("bool", "boolean"),
    17: ("bytea", "bytes"),
    18: ("char", "text"),
    19: ("name", "text"),
    20: ("int8", "integer"),
    21: ("int2", "integer"),
    23: ("int4", "integer"),
    25: ("text", "text"),
    26: ("oid", "integer"),
    114: ("json", "json"),
    142: ("xml", "other"),
    700: ("float4", "float"),
    701: ("float8", "float"),
    705: ("unknown", "text"),
    790: ("money", "other"),
    1042: ("bpchar", "text"),
    1043: ("varchar", "text"),
    1082: ("date", "date"),
    1083: ("time", "time"),
    1114: ("timestamp", "timestamp"),
    1184: ("timestamptz", "timestamp"),
    1186: ("interval", "interval"),
    1266: ("timetz", "time"),
    1700: ("numeric", "decimal"),
    2950: ("uuid", "uuid"),
    3802: ("jsonb", "json"),
}
_ARRAYS: dict[int, str] = {
    1000: "bool",
    1001: "bytea",
    1002: "char",
    1003: "name",
    1005: "int2",
    1007: "int4",
    1009: "text",
    1014: "bpchar",
    1015: "varchar",
    1016: "int8",
    1021: "float4",
    1022: "float8",
    1028: "oid",
    1115: "timestamp",
    1182: "date",
    1183: "time",
    1185: "timestamptz",
    1187: "interval",
    1231: "numeric",
    1270: "timetz",
    199: "json",
    2951: "uuid",
    3807: "jsonb",
}


def pg_type(oid: int | None, name: str | None = None) -> tuple[str, str]:
    """(native name, class) of a type OID. `name` is the driver's own name for it, when
    it has one (asyncpg); extension types (pgvector's `vector`) are only known by it."""
    if oid in _SCALARS:
        native, cls = _SCALARS[oid]
        return name or native, cls
    if oid in _ARRAYS:
        return name or f"_{_ARRAYS[oid]}", "array"
    if name == "vector":
        return name, "vector"
    return name or f"oid {oid}", "other"
