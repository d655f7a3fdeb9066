"""The per-company rate limiter, on a simulated clock."""

from __future__ import annotations

from consumer.ratelimit import CompanyRateLimiter, Limits


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def sent_in_any_window(stamps: list[float], window: float) -> int:
    return max(
        sum(1 for t in stamps if start <= t < start + window) for start in stamps
    )


def test_never_more_than_the_limits_in_any_rolling_window():
    clock = FakeClock()
    limiter = CompanyRateLimiter(
        Limits(per_second=10, per_minute=500, batches_per_minute=40, slack_seconds=0),
        clock=clock,
        sleep=clock.sleep,
    )
    stamps = []
    for i in range(1200):
        limiter.acquire(batch=i % 10 == 0)
        stamps.append(clock.now)
    assert sent_in_any_window(stamps, 1.0) <= 10
    assert sent_in_any_window(stamps, 60.0) <= 500
    batches = stamps[::10]
    assert sent_in_any_window(batches, 60.0) <= 40
    # And it waits no more than it must: the 81st batch waits for the third minute,
    # and the 400 requests from there on go at 10 a second: about 160 s in all.
    assert 155 <= clock.now <= 165


def test_first_requests_go_at_once():
    clock = FakeClock()
    limiter = CompanyRateLimiter(clock=clock, sleep=clock.sleep)
    waits = [limiter.acquire() for _ in range(9)]
    assert waits == [0.0] * 9
    assert limiter.acquire() > 0.9
