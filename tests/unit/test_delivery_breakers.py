"""A peer's circuit breaker: opens after failures in a row, holds back, lets one probe
through per pause, closes when the peer answers."""

from __future__ import annotations

from services.notification.breakers import Admission, Breakers, Change


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def breakers(clock: Clock) -> Breakers:
    return Breakers(failures_to_open=3, pause_s=10.0, clock=clock)


def opened(clock: Clock, peer: str) -> Breakers:
    """Breakers with `peer`'s open: it failed three sends in a row."""
    b = breakers(clock)
    for _ in range(3):
        b.record(peer, "down")
    return b


def test_opens_after_failures_in_a_row_and_an_answer_in_between_starts_the_count_again():
    clock = Clock()
    b = breakers(clock)
    assert b.record("smtp", "down") is None
    assert b.record("smtp", "down") is None
    assert b.record("smtp", "up") is None  # the peer answered: the count starts again
    assert b.record("smtp", "down") is None
    assert b.record("smtp", "down") is None
    assert b.admit("smtp") is Admission.SEND
    assert b.record("smtp", "down", "connection refused") is Change.OPENED
    assert b.admit("smtp") is Admission.HOLD
    assert b.held_back() == ["smtp"]
    [open_breaker] = b.open_breakers()
    assert (open_breaker.peer, open_breaker.reason) == ("smtp", "connection refused")


def test_one_probe_per_pause_and_a_failed_probe_holds_back_for_another_pause():
    clock = Clock()
    b = opened(clock, "crm.example.se")
    clock.now += 9.9
    assert b.admit("crm.example.se") is Admission.HOLD and b.probing_allowed() == []
    clock.now += 0.1
    assert b.probing_allowed() == ["crm.example.se"]
    assert b.admit("crm.example.se") is Admission.PROBE
    assert b.admit("crm.example.se") is Admission.HOLD  # one probe at a time
    assert b.held_back() == ["crm.example.se"]
    assert b.record("crm.example.se", "down") is Change.OPENED
    assert b.hold_for_s("crm.example.se") == 10.0
    clock.now += 10
    assert b.admit("crm.example.se") is Admission.PROBE
    assert b.record("crm.example.se", "up") is Change.CLOSED
    assert b.admit("crm.example.se") is Admission.SEND and b.open_breakers() == []


def test_a_send_that_never_asked_the_peer_says_nothing_about_it():
    clock = Clock()
    b = opened(clock, "crm.example.se")
    clock.now += 10
    assert b.admit("crm.example.se") is Admission.PROBE
    assert b.record("crm.example.se", None) is None  # say, no secret to sign with
    assert b.admit("crm.example.se") is Admission.PROBE  # the next one probes instead
    assert b.record("other.example.se", None) is None and b.admit("other.example.se") is Admission.SEND


def test_peers_are_apart():
    clock = Clock()
    b = opened(clock, "hanging.example.se:443")
    assert b.admit("hanging.example.se:443") is Admission.HOLD
    assert b.admit("crm.example.se") is Admission.SEND and b.admit("smtp") is Admission.SEND
