"""OutputRateLimiter: rates over a sliding window, one notice per run of drops."""

from __future__ import annotations

from nbserver.services.kernels.ratelimit import OutputRateLimiter, RateDecision


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_messages_under_the_limit_pass():
    limiter = OutputRateLimiter(10, 0, 1.0, clock=Clock())
    assert all(limiter.admit(10) is RateDecision.SEND for _ in range(10))


def test_flood_is_dropped_with_one_notice_then_resumes_after_the_window():
    clock = Clock()
    limiter = OutputRateLimiter(10, 0, 1.0, clock=clock)
    decisions = [limiter.admit(1) for _ in range(30)]
    assert decisions[:10] == [RateDecision.SEND] * 10
    assert decisions[10] is RateDecision.DROP_AND_NOTIFY
    assert set(decisions[11:]) == {RateDecision.DROP}
    clock.now += 1.5
    assert limiter.admit(1) is RateDecision.SEND
    assert not limiter.limited


def test_data_rate_limit_counts_bytes():
    limiter = OutputRateLimiter(0, 1000, 1.0, clock=Clock())
    assert limiter.admit(900) is RateDecision.SEND
    assert limiter.admit(200) is RateDecision.DROP_AND_NOTIFY


def test_zero_limits_turn_the_limiter_off():
    limiter = OutputRateLimiter(0, 0, 1.0, clock=Clock())
    assert all(limiter.admit(10**9) is RateDecision.SEND for _ in range(100))
