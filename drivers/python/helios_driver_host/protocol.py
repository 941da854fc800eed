"""The protocol's version and names, read from `schema/driver-host.schema.json`: the JSON
Schema helios-matrix generates from its Rust types (src/exec/driver/protocol.rs), their
one source. The host runs from a helios-matrix checkout (scripts/drivers.sh installs it
editable), so the schema is at the checkout's root."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

SCHEMA = Path(__file__).resolve().parents[3] / "schema" / "driver-host.schema.json"


def _definitions() -> dict[str, Any]:
    try:
        with SCHEMA.open(encoding="utf-8") as f:
            schema: dict[str, Any] = json.load(f)
    except (OSError, ValueError) as e:
        raise RuntimeError(
            f"cannot read the driver host protocol's schema {SCHEMA}: {e} "
            "(the host runs from a helios-matrix checkout)"
        ) from e
    definitions: dict[str, Any] = schema["$defs"]
    return definitions


def _constants(definition: dict[str, Any]) -> frozenset[str]:
    """The names a string enum of the schema allows, each a `const` of its `oneOf`."""
    return frozenset(str(choice["const"]) for choice in definition["oneOf"])


_DEFS = _definitions()
_HELLO = _DEFS["Hello"]["properties"]

#: The version this host speaks: the one helios-matrix speaks.
PROTOCOL: int = int(_HELLO["protocol"]["const"])
#: What the hello line's `hello` says.
GREETING: str = str(_HELLO["hello"]["const"])
#: Every capability a hello may name.
CAPABILITIES: frozenset[str] = _constants(_DEFS["Capability"])
#: Every kind of error.
KINDS: frozenset[str] = _constants(_DEFS["ErrorKind"])
