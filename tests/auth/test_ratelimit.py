"""The failed-login limiter: per client, per window, forgetting old failures."""

from __future__ import annotations

from nbserver.auth.ratelimit import LoginRateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_client_waits_after_max_failures_until_the_window_passes():
    clock = FakeClock()
    limiter = LoginRateLimiter(3, 60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("a") == 0
        limiter.record_failure("a")
    assert limiter.retry_after("a") == 60
    clock.now += 59
    assert limiter.retry_after("a") == 1
    clock.now += 1
    assert limiter.retry_after("a") == 0


def test_clients_are_counted_separately():
    limiter = LoginRateLimiter(1, 60, clock=FakeClock())
    limiter.record_failure("a")
    assert limiter.retry_after("a") > 0
    assert limiter.retry_after("b") == 0


def test_reset_forgets_a_client():
    limiter = LoginRateLimiter(1, 60, clock=FakeClock())
    limiter.record_failure("a")
    limiter.reset("a")
    assert limiter.retry_after("a") == 0


def test_memory_stays_bounded_under_many_clients():
    from nbserver.auth import ratelimit

    limiter = LoginRateLimiter(5, 60, clock=FakeClock())
    for index in range(ratelimit.MAX_TRACKED_CLIENTS + 50):
        limiter.record_failure(f"10.0.{index // 256}.{index % 256}")
    assert len(limiter._failures) <= ratelimit.MAX_TRACKED_CLIENTS
