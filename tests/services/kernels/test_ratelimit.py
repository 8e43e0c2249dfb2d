"""OutputRateLimiter and OutputThrottle: the output up to the limit, one notice, the last lines."""

from __future__ import annotations

import json
import re

from nbserver.services.kernels.messages import KernelMessage, server_header
from nbserver.services.kernels.ratelimit import TAIL_CHARS, OutputRateLimiter, OutputThrottle, RateDecision


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def stream(text: str, name: str = "stdout", parent: str = "run-1") -> KernelMessage:
    return KernelMessage.from_parts("iopub", server_header("stream", "k"), {"msg_id": parent}, {},
                                    {"name": name, "text": text})


def display(value: int, parent: str = "run-1") -> KernelMessage:
    return KernelMessage.from_parts("iopub", server_header("display_data", "k"), {"msg_id": parent}, {},
                                    {"data": {"text/plain": str(value)}, "metadata": {}})


def texts(messages: list[KernelMessage]) -> list[str]:
    return [json.loads(m.content_bytes)["text"] for m in messages]


def test_messages_under_the_limit_pass():
    limiter = OutputRateLimiter(10, 0, 1.0, clock=Clock())
    assert all(limiter.admit(10) is RateDecision.SEND for _ in range(10))


def test_rates_count_over_a_sliding_window():
    clock = Clock()
    limiter = OutputRateLimiter(10, 0, 1.0, clock=clock)
    assert [limiter.admit(1) for _ in range(11)][-1] is RateDecision.DROP
    clock.now += 1.5
    assert limiter.admit(1) is RateDecision.SEND


def test_data_rate_limit_counts_bytes():
    limiter = OutputRateLimiter(0, 1000, 1.0, clock=Clock())
    assert limiter.admit(900) is RateDecision.SEND
    assert limiter.data_left() == 100
    assert limiter.admit(200) is RateDecision.DROP


def test_zero_limits_turn_the_limiter_off():
    limiter = OutputRateLimiter(0, 0, 1.0, clock=Clock())
    assert all(limiter.admit(10**9) is RateDecision.SEND for _ in range(100))


def throttle(msg_rate: float = 0, data_rate: float = 0, clock: Clock | None = None) -> OutputThrottle:
    return OutputThrottle(OutputRateLimiter(msg_rate, data_rate, 1.0, clock=clock or Clock()), "server")


def test_a_huge_stream_message_shows_its_head_up_to_the_limit():
    gate = throttle(data_rate=100_000)
    lines = "".join(f"line {index:07d}\n" for index in range(1_000_000))  # 13 MB
    sent = gate.filter(stream(lines))
    assert len(sent) == 1
    head = texts(sent)[0]
    assert lines.startswith(head) and head.endswith("\n")
    assert 90_000 < len(head) <= 100_000
    assert gate.flood is not None


def test_a_flood_ends_with_one_notice_counting_what_was_dropped_then_the_last_lines():
    gate = throttle(data_rate=10_000)
    sent = []
    for index in range(2000):
        sent += gate.filter(stream(f"line {index}\n" * 10))
    assert len(sent) < 200 and gate.flood is not None
    ending = gate.end_flood()
    notice, tail = ending
    notice_text = texts([notice])[0]
    assert json.loads(notice.content_bytes)["name"] == "stderr"
    assert notice.parent_header == {"msg_id": "run-1"}
    dropped = 2000 - len(sent)
    assert re.search(rf"did not send {dropped} output messages \(\d+\.\d kB\)", notice_text)
    assert "IOPub data rate exceeded" in notice_text and "last lines" in notice_text
    tail_text = texts([tail])[0]
    assert tail_text.endswith("line 1999\n" * 10) and len(tail_text) <= TAIL_CHARS
    assert tail_text.startswith("line ")  # whole lines only
    assert tail.parent_header == {"msg_id": "run-1"} and json.loads(tail.content_bytes)["name"] == "stdout"
    assert gate.end_flood() == []


def test_after_a_flood_the_same_output_behaves_the_same():
    clock = Clock()
    gate = throttle(data_rate=10_000, clock=clock)
    runs = []
    for _ in range(2):
        sent = [m for index in range(500) for m in gate.filter(stream(f"line {index}\n" * 10))]
        runs.append((len(sent), [texts([m])[0][:40] for m in gate.end_flood()]))
        clock.now += 0.1  # the cell is run again at once
    assert runs[0] == runs[1]
    assert runs[0][0] > 0 and len(runs[0][1]) == 2


def test_tails_are_kept_per_stream_and_request():
    gate = throttle(msg_rate=5)
    for index in range(50):
        gate.filter(stream(f"out {index}\n"))
        gate.filter(stream(f"err {index}\n", name="stderr"))
        gate.filter(stream(f"other {index}\n", parent="run-2"))
    notice, *tails = gate.end_flood()
    assert "IOPub message rate exceeded" in texts([notice])[0]
    by_key = {(t.parent_header["msg_id"], json.loads(t.content_bytes)["name"]): texts([t])[0] for t in tails}
    assert set(by_key) == {("run-1", "stdout"), ("run-1", "stderr"), ("run-2", "stdout")}
    assert by_key[("run-1", "stderr")].endswith("err 49\n")


def test_a_flood_of_rich_output_has_a_notice_and_no_tail():
    gate = throttle(msg_rate=5)
    sent = [m for index in range(100) for m in gate.filter(display(index))]
    assert len(sent) == 5
    ending = gate.end_flood()
    assert len(ending) == 1 and "95 output messages" in texts(ending)[0]
    assert "last lines" not in texts(ending)[0]


def test_when_the_rate_falls_back_the_flood_is_reported_before_the_next_message():
    clock = Clock()
    gate = throttle(msg_rate=5, clock=clock)
    for index in range(20):
        gate.filter(stream(f"{index}\n"))
    clock.now += 2
    notice, tail, message = gate.filter(stream("after\n"))
    assert "output messages" in texts([notice])[0]
    assert texts([tail])[0].endswith("19\n") and texts([message]) == ["after\n"]
    assert gate.flood is None


def test_ending_without_a_flood_keeps_the_window():
    gate = throttle(msg_rate=5)
    for index in range(5):
        assert gate.filter(display(index))
    assert gate.end_flood() == []
    assert gate.filter(display(6)) == []  # still over the limit: the window was kept
