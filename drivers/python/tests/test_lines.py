"""The pipes as lines (helios_driver_host.lines): requests read whole, answers held while
requests wait and written together, never later than HOLD_AT_MOST."""

from __future__ import annotations

import io
import threading
import time

from helios_driver_host.lines import HELD, HOLD_AT_MOST, Answers, Requests


class Writes(io.RawIOBase):
    """A stream that keeps each write apart."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b: bytes) -> int:  # type: ignore[override]
        data = bytes(b)
        self.writes.append(data)
        return len(data)


def test_requests_know_whether_a_whole_line_waits() -> None:
    requests = Requests(io.BufferedReader(io.BytesIO(b"one\ntwo\nthr")))
    assert not requests.waiting()  # nothing read yet
    assert requests.readline() == b"one\n"
    assert requests.waiting()
    assert requests.readline() == b"two\n"
    assert not requests.waiting()  # a part of a line is not a request
    assert requests.readline() == b"thr"
    assert requests.readline() == b""


def test_held_answers_go_out_in_one_write_when_nothing_waits() -> None:
    stream = Writes()
    answers = Answers(stream, threading.Lock())  # type: ignore[arg-type]
    with answers.lock:
        answers.write(b"1\n", hold=True)
        answers.write(b"2\n", hold=True)
        assert stream.writes == []
        answers.write(b"3\n")
    assert stream.writes == [b"1\n2\n3\n"]


def test_at_most_held_answers_are_held() -> None:
    stream = Writes()
    answers = Answers(stream, threading.Lock())  # type: ignore[arg-type]
    with answers.lock:
        for i in range(HELD + 1):
            answers.write(b"%d\n" % i, hold=True)
        assert len(stream.writes) == 1
        assert stream.writes[0].count(b"\n") == HELD


def test_a_held_answer_goes_out_within_its_time() -> None:
    stream = Writes()
    answers = Answers(stream, threading.Lock())  # type: ignore[arg-type]
    with answers.lock:
        answers.write(b"late\n", hold=True)
    deadline = time.monotonic() + 1
    while not stream.writes and time.monotonic() < deadline:
        time.sleep(HOLD_AT_MOST / 2)
    assert stream.writes == [b"late\n"]
