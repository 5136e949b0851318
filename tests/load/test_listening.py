"""`--listen PCT`: which calls are listened to, what a sampled call keeps (and an unsampled one
does not), how a recording is heard back through the caller's ear, how the heard words judge
`agent_said` / `agent_never_said`, and the report's listened section. The Locust runs with
listening are in test_listen_runs.py."""

from __future__ import annotations

import numpy as np
import pytest
from support.child import run_script

from workbench.audio.codec import ulaw_encode
from workbench.audio.frames import FRAME_BYTES
from workbench.errors import ConfigError
from workbench.loadreport import build_report, listened_report
from workbench.loadreport_html import render_html
from workbench.telephony.caller.listened import (
    CallRecording,
    HeardExpectation,
    hear_recording,
    is_sampled,
    listened_call,
    parse_listen,
)


def test_listen_takes_a_percentage_of_calls():
    assert parse_listen("10%") == 10.0
    assert parse_listen("2.5") == 2.5
    assert parse_listen("0") == 0.0
    assert parse_listen("100%") == 100.0
    for bad in ("ten", "150%", "-1", "%"):
        with pytest.raises(ConfigError, match="--listen"):
            parse_listen(bad)


def test_the_sample_is_deterministic_and_close_to_the_percentage():
    picks = [is_sampled(i, 10.0, "pid 1") for i in range(5000)]
    assert picks == [is_sampled(i, 10.0, "pid 1") for i in range(5000)]
    assert 400 <= sum(picks) <= 600
    assert not any(is_sampled(i, 0.0) for i in range(1000))
    assert all(is_sampled(i, 100.0) for i in range(1000))
    # another generator process samples other calls (its index sequence is its own)
    assert picks != [is_sampled(i, 10.0, "pid 2") for i in range(5000)]


KEEPING = r"""
import base64, json, sys
sys.path.insert(0, "loadtests")
import greenlet_pacer, listening, media_call

listener = listening.Listener(25.0)
calls = []
for _ in range(40):
    call = media_call.LocustCall("ws://unused", greenlet_pacer.GreenletPacer())
    call.recording = listener.sample()
    calls.append(call)

def media(call, frames):
    payload = base64.b64encode(bytes([0x10]) * 160 * frames).decode()
    return json.dumps({"event": "media", "streamSid": call.stream_sid,
                       "media": {"payload": payload}}, separators=(",", ":")).encode()

for call in calls:
    call._on_text(media(call, 3))
    for n in range(5):
        call._play(n * 20.0)
    call._on_text(media(call, 2))
    call._on_text(json.dumps({"event": "clear", "streamSid": call.stream_sid}).encode())
    call._play(100.0)
sampled = [c.recording for c in calls if c.recording is not None]
print(json.dumps({
    "sampled": len(sampled),
    "kept_bytes": [len(r.ulaw) for r in sampled],
    "clears_at": [r.clears_at for r in sampled],
    "loud_frames": [r.ulaw.count(bytes([0x10]) * 160) for r in sampled],
    "unsampled_keep": [c.recording for c in calls if c.recording is None][:1],
}))
"""


def test_a_sampled_call_keeps_what_played_and_an_unsampled_call_keeps_nothing():
    out = run_script(KEEPING)
    assert 3 <= out["sampled"] <= 20  # 25 % of 40 calls
    # six ticks played: three loud frames, two quiet, the cleared two never played
    assert out["kept_bytes"] == [6 * FRAME_BYTES] * out["sampled"]
    assert out["loud_frames"] == [3] * out["sampled"]
    assert out["clears_at"] == [[5]] * out["sampled"]
    assert out["unsampled_keep"] == [None]


def tone(ms: float) -> bytes:
    t = np.arange(int(ms * 8)) / 8000.0
    return ulaw_encode((8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))


def quiet(ms: float) -> bytes:
    return b"\xff" * int(ms * 8)


def recorded_call() -> CallRecording:
    """A greeting (0–1 s), the caller's line (2–3 s), the reply from 3.5 s cut by a clear."""
    recording = CallRecording("hours", "CA1")
    audio = tone(1000) + quiet(2500) + tone(1500) + quiet(1000)
    for n in range(len(audio) // FRAME_BYTES):
        if n == 250:
            recording.cleared()  # (the rest of the reply did not play: it is quiet here)
        recording.played(n * 20.0, audio[n * FRAME_BYTES : (n + 1) * FRAME_BYTES])
    recording.caller_onset(2000.0, "What are your hours?")
    recording.caller_end(3000.0)
    recording.measured.append(("What are your hours?", 3500.0, 500.0))
    recording.steps.append((0, 1900.0))
    return recording


class FakeTranscriber:
    """A named fake: words by the run's length (the real one is Whisper in the listening
    process, exercised in test_listen_runs.py)."""

    def __call__(self, pcm8k: np.ndarray) -> str:
        return "welcome to northwind" if len(pcm8k) < 8000 * 1.4 else "we open at eight"


def test_a_recording_is_heard_back_in_turns_with_the_clear_that_cut_the_reply():
    recording = recorded_call()
    turns = hear_recording(recording.ulaw, recording.timeline(), FakeTranscriber())
    assert [t.text for t in turns] == ["welcome to northwind", "we open at eight"]
    assert turns[0].onset_ms == pytest.approx(0.0, abs=1.0)
    assert turns[1].onset_ms == pytest.approx(3500.0, abs=1.0)
    assert turns[1].latency_ms == pytest.approx(500.0, abs=1.0)  # the caller's end → reply
    assert turns[1].cut_by == "clear"


def test_heard_words_judge_agent_said_and_pair_each_measured_turn_with_the_reply():
    recording = recorded_call()
    heard = hear_recording(recording.ulaw, recording.timeline(), FakeTranscriber())
    turns = [t.as_dict() for t in heard]
    expectations = (
        HeardExpectation("step 1: say 'What are your hours?'", 0, ("/eight|8/",)),
        HeardExpectation("call", None, ("purple elephants",), ("closed",)),
    )
    heard = listened_call(recording, turns, expectations)
    statuses = [(v["where"], v["expectation"], v["status"]) for v in heard["verdicts"]]
    assert statuses == [
        ("step 1: say 'What are your hours?'", "agent_said", "pass"),
        ("call", "agent_said", "fail"),
        ("call", "agent_never_said", "pass"),
    ]
    failed = heard["verdicts"][1]
    assert "purple elephants" in failed["expected"]
    assert "welcome to northwind we open at eight" in failed["evidence"]
    assert heard["turns"] == [
        {"caller": "What are your hours?", "agent": "we open at eight", "latency_ms": 500.0}
    ]
    speakers = [(line["speaker"], line["text"]) for line in heard["conversation"]]
    assert speakers == [
        ("agent", "welcome to northwind"),
        ("caller", "What are your hours?"),
        ("agent", "we open at eight"),
    ]


def test_the_report_lists_verdicts_the_slowest_turns_and_what_was_not_transcribed():
    def call(sid: str, latencies: list[float]) -> dict:
        return {
            "scenario": "hours",
            "call_sid": sid,
            "conversation": [{"speaker": "agent", "at_ms": 0.0, "text": "hello", "cut_by": ""}],
            "turns": [
                {"caller": f"line {ms:g}", "agent": "reply", "latency_ms": ms} for ms in latencies
            ],
            "verdicts": [
                {
                    "expectation": "agent_said",
                    "where": "call",
                    "status": "fail",
                    "expected": "'x'",
                    "evidence": "heard: 'hello'",
                }
            ],
        }

    listened = [
        call("CA1", [300.0, 900.0]),
        call("CA2", [1200.0]),
        {"scenario": "hours", "call_sid": "CA3", "error": "not transcribed within 60 s"},
    ]
    section = listened_report(listened, 10.0, slowest=2)
    assert section["sampled"] == 3 and section["transcribed"] == 2
    assert section["not_transcribed"] == {"not transcribed within 60 s": 1}
    assert [t["latency_ms"] for t in section["slowest_turns"]] == [1200.0, 900.0]
    assert section["slowest_turns"][0]["caller"] == "line 1200"
    assert section["expectations"] == {"agent_said": {"fail": 2}}
    page = render_html(build_report([], extra={"listened": section}))
    assert "Listened (10% of calls" in page and "line 1200" in page and "heard: &#x27;hello" in page


def test_the_readmes_listened_example_has_the_sections_fields():
    import json
    import re

    from workbench.paths import REPO_ROOT

    text = (REPO_ROOT / "loadtests/README.md").read_text(encoding="utf-8")
    [example] = [
        json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, re.S) if "listened" in b
    ]
    shown = example["listened"]
    real = listened_report(
        [{**shown["calls"][0], "turns": shown["slowest_turns"], "verdicts": shown["verdicts"]}],
        shown["percent"],
    )
    assert set(shown) == set(real)
    assert set(shown["slowest_turns"][0]) == set(real["slowest_turns"][0])
    assert set(shown["verdicts"][0]) == set(real["verdicts"][0])
    assert set(shown["calls"][0]) == set(real["calls"][0])
    assert real["expectations"] == shown["expectations"]


def test_a_bad_listen_percentage_is_a_one_line_error():
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "workbench", "load", "local", "--listen", "150%"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "--listen '150%': expected a percentage between 0% and 100%" in done.stderr
    assert "Traceback" not in done.stderr


def test_workbench_load_prints_the_listened_summary():
    from workbench.load_commands import listened_summary_lines

    section = listened_report(
        [
            {
                "scenario": "hours",
                "call_sid": "CA1",
                "conversation": [],
                "turns": [{"caller": "When?", "agent": "eight to six", "latency_ms": 640.0}],
                "verdicts": [
                    {
                        "expectation": "agent_said",
                        "where": "call",
                        "status": "fail",
                        "expected": "'purple'",
                        "evidence": "heard: 'eight to six'",
                    }
                ],
            }
        ],
        10.0,
    )
    lines = listened_summary_lines(section)
    assert lines[0] == "  listened (10% of calls): sampled 1, transcribed 1; agent_said fail 1"
    assert "failed agent_said (hours, call): 'purple' — heard: 'eight to six'" in lines[1]
    assert lines[2] == "    slowest turn 640 ms (hours): caller 'When?' → agent 'eight to six'"
    assert listened_summary_lines(None) == []
