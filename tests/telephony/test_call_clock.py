"""`CallClock`: one thread ticks every real-time call of the process (no thread per call)."""

from __future__ import annotations

import threading
import time

from workbench.engine.realtime import CallClock, RealTimeDriver
from workbench.engine.session import CallSession, SessionSettings


def _wait(predicate, timeout_s: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def test_one_clock_thread_runs_several_calls_and_delivers_their_stage_results(runtime):
    agent = runtime.agent()
    stack = runtime.stack(agent)
    clock = CallClock(name="test-call-clock")
    sent: dict[str, list] = {"CAone": [], "CAtwo": []}
    drivers = [
        RealTimeDriver(
            CallSession(call_id, agent, stack, SessionSettings()),
            send_frame=frames.append,
            clock=clock,
        )
        for call_id, frames in sent.items()
    ]
    for driver in drivers:
        driver.start()
        assert driver.running
    # The greeting is stage work (respond, TTS) whose results the clock delivers; its audio
    # then leaves one frame per tick.
    assert _wait(lambda: all(len(frames) >= 5 for frames in sent.values()))
    threads = [t.name for t in threading.enumerate()]
    assert threads.count("test-call-clock") == 1
    assert not any(name.startswith("call-CA") for name in threads)
    assert clock.calls == 2

    for driver in drivers:
        driver.hang_up()
    for driver in drivers:
        driver.join(10.0)
        assert not driver.running
        assert driver.session.ended
        assert driver.session.end_reason == "caller_hung_up"
    assert clock.calls == 0
    assert {frame.turn for frames in sent.values() for frame in frames} == {0}


def test_calls_on_the_clock_keep_their_own_call_time(runtime):
    agent = runtime.agent()
    stack = runtime.stack(agent)
    clock = CallClock(name="test-call-clock-2")
    first = RealTimeDriver(
        CallSession("CAfirst", agent, stack, SessionSettings()),
        send_frame=lambda f: None,
        clock=clock,
    )
    first.start()
    assert _wait(lambda: first.now_ms() > 100.0)
    second = RealTimeDriver(
        CallSession("CAsecond", agent, stack, SessionSettings()),
        send_frame=lambda f: None,
        clock=clock,
    )
    second.start()
    assert second.now_ms() < first.now_ms()  # each call's clock starts at its own start
    for driver in (first, second):
        driver.hang_up()
        driver.join(10.0)
        assert not driver.running
