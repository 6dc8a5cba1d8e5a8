"""The client-side limiter keeps under Alpaca's 200 requests a minute."""

from __future__ import annotations

from tradingagents_brokers_alpaca.transport import RateLimiter


class Clock:
    def __init__(self):
        self.now = 0.0
        self.slept = []

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_the_limiter_waits_for_the_oldest_request_to_leave_the_window():
    clock = Clock()
    limiter = RateLimiter(3, sleep=clock.sleep, monotonic=lambda: clock.now)
    for _ in range(3):
        limiter.wait()
        clock.now += 1
    assert clock.slept == []
    limiter.wait()  # the fourth request within a minute
    assert clock.slept == [57.0]
    clock.now += 60
    limiter.wait()
    assert clock.slept == [57.0]
