"""When the web server collects the memory of closed pages' sessions (src/web/session_memory.py):
once a closed page's reconnect window has passed, never while no page closed, and at most once
per window under steady traffic. The collection itself is Python's own, run for real."""

from __future__ import annotations

import gc
import weakref

import pytest

from src.web.session_memory import ClosedSessions
from src.web.stcore_guard import OpenSessions


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Held:
    """What a session holds, in a reference cycle as a Streamlit session's values are."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def no_automatic_collection():
    gc.disable()
    yield
    gc.enable()


def test_a_closed_pages_memory_is_collected_once_its_window_has_passed(no_automatic_collection):
    clock = Clock()
    closed = ClosedSessions(120, clock)
    held = Held()
    gone = weakref.ref(held)
    del held
    closed.closed()
    clock.now += 119
    assert not closed.collect_if_due() and gone() is not None
    clock.now += 1
    assert closed.collect_if_due() and gone() is None
    assert not closed.collect_if_due() and closed.collections == 1  # nothing closed since


def test_nothing_is_collected_while_no_page_closes():
    clock = Clock()
    closed = ClosedSessions(3, clock)
    for _ in range(10):
        clock.now += 60
        assert not closed.collect_if_due()
    assert closed.collections == 0


def test_under_steady_traffic_at_most_one_collection_per_window():
    clock = Clock()
    closed = ClosedSessions(120, clock)
    for _ in range(600):  # a page closes every 2 s for 20 minutes, checked every 10 s
        clock.now += 2
        closed.closed()
        if clock.now % 10 == 0:
            closed.collect_if_due()
    assert 9 <= closed.collections <= 10
    clock.now += 120
    assert closed.collect_if_due() and not closed.due()  # the last pages' turn, then none waits


def test_the_check_is_as_often_as_a_short_window_and_at_most_every_ten_seconds():
    assert ClosedSessions(120).check_seconds == 10
    assert ClosedSessions(3).check_seconds == 3


def test_every_closed_session_is_told():
    told = []
    sessions = OpenSessions(2, on_close=lambda: told.append(1))
    assert sessions.open("a") and sessions.open("a") and not sessions.open("a")
    sessions.close("a")
    sessions.close("a")
    assert len(told) == 2 and sessions.total == 0
