"""The driver host transcripts every host replays (tests/fixtures/driver-host/README.md):
each conversation run through this host and the reference PostgreSQL, with the Python
driver of the transcript's parameter style. helios-matrix replays the same files (that it
writes those requests, and reads those answers), and so does the Node host."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import TARGETS, HostProcess, live, target

TRANSCRIPTS = Path(__file__).resolve().parents[3] / "tests" / "fixtures" / "driver-host"
# The Python PostgreSQL driver that replays a transcript, by the parameter style its SQL
# is written in (none: it has no parameters).
DRIVERS = {None: "psycopg2", "%s": "psycopg2", "$n": "asyncpg"}
ANY = "<any>"
MISSING = object()


def mismatches(expected: Any, actual: Any, where: str) -> Iterator[str]:
    """How `actual` differs from `expected` under the transcripts' rules: equal JSON, an
    integer never equal to a float, "<any>" matching anything."""
    if expected == ANY:
        return
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            yield f"{where}: expected an object, got {actual!r}"
            return
        for key, value in expected.items():
            if key not in actual:
                # An error's optional fields may be left out where null is expected.
                if not (where.endswith(".error") and value in (None, ANY)):
                    yield f"{where}.{key}: missing"
                continue
            yield from mismatches(value, actual[key], f"{where}.{key}")
        for key in actual.keys() - expected.keys():
            yield f"{where}.{key}: not expected, got {actual[key]!r}"
    elif isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            yield f"{where}: expected {expected!r}, got {actual!r}"
            return
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            yield from mismatches(e, a, f"{where}[{i}]")
    # bool is an int and 1 == 1.0 in Python: the types must be the same too.
    elif type(expected) is not type(actual) or expected != actual:
        yield f"{where}: expected {expected!r}, got {actual!r}"


def hello_mismatches(expected: dict[str, Any], actual: dict[str, Any]) -> Iterator[str]:
    """The keys the expected hello has; its capabilities are the ones the transcript
    needs, which the host's must include."""
    for key, value in expected.items():
        if key == "capabilities":
            missing = set(value) - set(actual.get(key, []))
            if missing:
                yield f"hello.capabilities: {sorted(missing)} missing from {actual.get(key)!r}"
        else:
            yield from mismatches(value, actual.get(key, MISSING), f"hello.{key}")


def transcripts() -> list[Path]:
    found = sorted(TRANSCRIPTS.glob("*.jsonl"))
    assert found, f"no transcripts in {TRANSCRIPTS}"
    return found


@live("postgresql")
@pytest.mark.parametrize("path", transcripts(), ids=lambda p: p.stem)
def test_the_host_answers_the_transcript(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    host = HostProcess(DRIVERS[header["placeholder"]])
    try:
        problems = list(hello_mismatches(json.loads(lines[1]), host.hello))
        assert not problems, f"{path.name}:2: {problems}"
        for number, line in enumerate(lines[2:], start=3):
            message = json.loads(line)
            if "op" in message:
                # The reference server where this run finds it (the line is otherwise sent
                # as it is: it is what helios-matrix writes).
                host.send_line(line.replace(TARGETS["postgresql"], target("postgresql")))
                continue
            answer = host.receive()
            problems = list(mismatches(message, answer, "response"))
            assert not problems, f"{path.name}:{number}: {problems}\n  host wrote: {answer}"
        # The last request was `close`: the host exits.
        assert host.proc.wait(timeout=5) == 0, "".join(host.stderr)
    finally:
        host.close()
