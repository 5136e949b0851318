"""The pacer judges the generator on the steady state: the record starts afresh a settling time
after `begin_window` (what came before is kept apart as the ramp-up), later `begin_window`
calls change nothing, and `end_window` freezes the record while the calls keep their clocks.

Run in a child process: media_call imports gevent (kept out of the test process)."""

from __future__ import annotations

from support.child import run_script

SCRIPT = """
import json, sys, time
sys.path.insert(0, "loadtests")
import gevent, greenlet_pacer

class FakeCall:
    closed = False
    call_sid = "CA-fake"
    def __init__(self, pacer):
        self.pacer = pacer
        self.ticks = 0
    def tick(self, n, due):
        self.ticks += 1
        self.pacer.health.lateness.add((time.perf_counter() - due) * 1000.0)

pacer = greenlet_pacer.GreenletPacer()
calls = [FakeCall(pacer) for _ in range(4)]
for call in calls:
    pacer.add(call)
gevent.sleep(0.3)
ramp_frames = pacer.health.lateness.total
pacer.begin_window(settle_s=0.1)
gevent.sleep(0.5)
pacer.begin_window(settle_s=0.1)  # e.g. a shape's next step: no new window
gevent.sleep(0.3)
window = pacer.measured
in_window = window.lateness.total
pacer.end_window()
ticks_at_end = [call.ticks for call in calls]
gevent.sleep(0.3)
print(json.dumps({
    "ramp_frames": ramp_frames,
    "ramp_kept": pacer.measured.ramp_lateness.total,
    "in_window": in_window,
    "after_end": pacer.measured.lateness.total,
    "same_record": pacer.measured is window,
    "ticks_went_on": all(c.ticks > t for c, t in zip(calls, ticks_at_end)),
    "max_calls": pacer.measured.max_calls,
}))
"""


def test_the_measured_window_starts_after_settling_and_ends_when_the_test_stops():
    result = run_script(SCRIPT)
    assert result["ramp_frames"] > 0
    assert result["ramp_kept"] >= result["ramp_frames"]  # reported apart, not lost
    assert result["in_window"] > 0  # frames after the (single) settling point
    assert result["after_end"] == result["in_window"]  # frozen at end_window
    assert result["same_record"]
    assert result["ticks_went_on"]  # the calls' clocks did not stop with the record
    assert result["max_calls"] == 4
