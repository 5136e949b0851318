"""The caller-side overlap tracker: what became of each onset over agent audio, from what the
caller heard — the same judge for `workbench call` and the Locust harness."""

from __future__ import annotations

import numpy as np

from workbench.audio.codec import ulaw_encode
from workbench.audio.frames import FRAME_BYTES
from workbench.audio.heard import AUDIBLE_THRESHOLD
from workbench.telephony.overlaps import OverlapTracker, compare_return


def reply_frames(words: int = 12, seed: int = 7) -> list[bytes]:
    """A reply of `words` noise bursts (200 ms, distinct) with 60 ms gaps, as 20 ms frames."""
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(words):
        burst = rng.normal(0, 5000, 1600) * np.hanning(1600)
        parts += [burst, np.zeros(480)]
    ulaw = ulaw_encode(np.clip(np.concatenate(parts), -32000, 32000).astype(np.int16))
    return [ulaw[i : i + FRAME_BYTES] for i in range(0, len(ulaw), FRAME_BYTES)]


def span(frame: bytes) -> tuple[int, int] | None:
    from workbench.audio.codec import ulaw_decode

    loud = np.flatnonzero(np.abs(ulaw_decode(frame).astype(np.int32)) > AUDIBLE_THRESHOLD)
    return (int(loud[0]), int(loud[-1]) + 1) if loud.size else None


class Ear:
    """Plays frames into a tracker on a 20 ms clock."""

    def __init__(self) -> None:
        self.tracker = OverlapTracker()
        self.t = 0.0

    def play(self, frames: list[bytes]) -> None:
        for frame in frames:
            self.tracker.agent_frame(self.t, frame, span(frame))
            self.t += 20.0

    def quiet(self, ms: float) -> None:
        for _ in range(int(ms // 20)):
            self.tracker.agent_frame(self.t, b"", None)
            self.t += 20.0


def test_a_pause_for_an_acknowledgement_that_goes_on_from_the_cut_word_is_resumed():
    reply = reply_frames()
    ear = Ear()
    ear.play(reply[:30])  # into the third word
    onset = ear.t - 40
    ear.tracker.caller_onset(onset, "acknowledgement")
    ear.play(reply[30:33])
    ear.tracker.clear(ear.t)
    ear.quiet(700)
    back = ear.t
    ear.play(reply[26:])  # re-sent from the start of the cut word
    ear.tracker.finish(ear.t)
    [item] = ear.tracker.report()["overlaps"]
    assert item["outcome"] == "resumed" and item["returned_as"] == "cut word"
    assert item["stop_latency_ms"] == ear.tracker.records[0].last_heard_ms - onset
    assert 0 < item["stop_latency_ms"] <= 100
    assert abs(item["resume_gap_ms"] - (back - ear.tracker.records[0].last_heard_ms)) < 21
    assert ear.tracker.report()["policy"] == "pauses and resumes"


def test_an_acknowledgement_that_makes_the_agent_start_over_abandons_the_reply():
    reply = reply_frames()
    ear = Ear()
    ear.play(reply[:40])
    ear.tracker.caller_onset(ear.t - 20, "acknowledgement")
    ear.play(reply[40:42])
    ear.tracker.clear(ear.t)
    ear.quiet(800)
    ear.play(reply)  # the same reply from its beginning
    ear.tracker.finish(ear.t)
    report = ear.tracker.report()
    [item] = report["overlaps"]
    assert (item["outcome"], item["returned_as"]) == ("abandoned_reply", "reply start")
    assert report["summary"]["abandoned_replies"] == 1
    assert report["policy"] == "clears on every onset, never resumes"


def test_an_acknowledgement_after_which_the_agent_stays_silent_abandons_the_reply():
    reply = reply_frames()
    ear = Ear()
    ear.play(reply[:20])
    ear.tracker.caller_onset(ear.t - 20, "acknowledgement")
    ear.play(reply[20:22])
    ear.tracker.clear(ear.t)
    ear.quiet(1500)
    ear.tracker.caller_onset(ear.t, "interruption")  # the caller goes on with its next line
    ear.tracker.finish(ear.t)
    [item] = ear.tracker.report()["overlaps"]
    assert item["outcome"] == "abandoned_reply" and item["heard_again_ms"] is None


def test_an_agent_that_never_stops_talks_over_every_onset():
    reply = reply_frames(words=20)
    ear = Ear()
    ear.play(reply[:20])
    ear.tracker.caller_onset(ear.t - 20, "interruption")
    ear.play(reply[20:60])
    ear.tracker.caller_onset(ear.t - 20, "acknowledgement")
    ear.play(reply[60:])
    ear.tracker.finish(ear.t + 1000)
    report = ear.tracker.report()
    assert [o["outcome"] for o in report["overlaps"]] == ["talked_over", "talked_over"]
    assert report["policy"] == "never stops"


def test_an_interruption_answered_with_new_audio_is_yielded_not_resumed():
    ear = Ear()
    ear.play(reply_frames(seed=1)[:25])
    ear.tracker.caller_onset(ear.t - 20, "interruption")
    ear.play(reply_frames(seed=1)[25:27])
    ear.tracker.clear(ear.t)
    ear.quiet(900)
    ear.play(reply_frames(seed=2))  # the answer to the interruption
    ear.tracker.finish(ear.t)
    report = ear.tracker.report()
    [item] = report["overlaps"]
    assert (item["outcome"], item["returned_as"]) == ("yielded", "new audio")
    assert report["policy"].startswith("clears on every onset (no acknowledgement")


def test_agent_audio_long_after_a_pause_is_a_new_reply_not_a_resume():
    ear = Ear()
    ear.play(reply_frames()[:25])
    ear.tracker.caller_onset(ear.t - 20, "acknowledgement")
    ear.tracker.clear(ear.t)
    ear.quiet(6000)  # e.g. a re-prompt after silence
    ear.play(reply_frames(seed=3))
    ear.tracker.finish(ear.t)
    [item] = ear.tracker.report()["overlaps"]
    assert item["outcome"] == "abandoned_reply" and item["heard_again_ms"] is None


def test_onsets_over_a_silent_agent_are_not_overlaps():
    ear = Ear()
    ear.play(reply_frames()[:10])
    ear.quiet(500)
    ear.tracker.caller_onset(ear.t, "interruption")
    ear.tracker.finish(ear.t)
    assert ear.tracker.report()["overlaps"] == []


def test_the_comparison_tells_a_restart_from_a_continuation_from_new_audio():
    reply = b"".join(reply_frames())
    heard = reply[: 30 * FRAME_BYTES]
    assert compare_return(reply[:3200], reply[:3200], heard) == "reply start"
    cut = 26 * FRAME_BYTES + 60  # the returned audio starts at the cut word's first sound
    assert compare_return(reply[cut : cut + 1600], reply[:3200], heard) == "cut word"
    other = b"".join(reply_frames(seed=9))
    assert compare_return(other[60:1660], reply[:3200], heard) == "new audio"
