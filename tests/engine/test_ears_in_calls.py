"""Both ears in whole calls with the real speech models: which ear a call uses, the final
pass's lane in the waterfall, and the agent's own words heard by both ears."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from workbench.engine import events as ev
from workbench.engine.calls import CallRuntime, run_call, say_lines_caller
from workbench.engine.latency import FixedLatency, load_profile
from workbench.paths import DEMO_AGENT_DIR
from workbench.speech.ears import EARS, load_ear
from workbench.speech.transcribe_cli import agent_words

pytestmark = pytest.mark.slow

LOCAL_LANE = "STT final pass (whisper base, local)"


def agent_copy(tmp_path: Path, **changes: object) -> Path:
    """The demo agent with some keys of agent.yaml changed."""
    directory = tmp_path / "agent"
    shutil.copytree(DEMO_AGENT_DIR, directory)
    path = directory / "agent.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return directory


def ear_of(result) -> str:
    (started,) = [e for e in result.events if isinstance(e, ev.CallStarted)]
    return started.settings["ear"]


def test_the_ear_comes_from_the_flag_then_the_scenario_then_the_agent_then_the_face(
    runtime, tmp_path
):
    """agent < scenario < flag: the most specific choice wins; the face's default is last."""
    from workbench.scenario.runner import run_scenario
    from workbench.scenario.schema import load_scenario

    agent = agent_copy(tmp_path, ear="fast")
    lines = ["What are your opening hours?"]
    fast_agent = run_call(
        runtime, say_lines_caller(lines), agent_path=agent, default_ear="accurate"
    )
    assert ear_of(fast_agent) == "fast"  # the agent's choice beats the face's default
    plain = run_call(runtime, say_lines_caller(lines), default_ear="accurate")
    assert ear_of(plain) == "accurate"  # the demo agent names none: the face decides

    def scenario(ear: str | None) -> Path:
        path = tmp_path / f"scenario-{ear}.yaml"
        header = {"name": f"ear-{ear}", "agent": str(agent), "latency_profile": "fixed"}
        if ear is not None:
            header["ear"] = ear
        path.write_text(yaml.safe_dump({**header, "steps": [{"say": lines[0]}]}))
        return path

    by_scenario = run_scenario(load_scenario(scenario("accurate")), runtime)
    assert by_scenario.ear == "accurate"  # the scenario beats the agent
    by_flag = run_scenario(load_scenario(scenario("accurate")), runtime, ear="fast")
    assert by_flag.ear == "fast"  # the flag beats the scenario
    by_agent = run_scenario(load_scenario(scenario(None)), runtime)
    assert by_agent.ear == "fast"


def test_the_final_pass_is_its_own_lane_and_the_lanes_still_add_up(runtime):
    result = run_call(
        runtime,
        say_lines_caller(["What are your opening hours?", "No thank you."]),
        latency=FixedLatency(),
        ear="accurate",
    )
    turns = [t for t in result.timelines if t.turn > 0]
    assert turns
    for timeline in turns:
        names = [lane.name for lane in timeline.lanes]
        assert LOCAL_LANE in names and "STT finalisation" not in names
        assert sum(lane.duration_ms for lane in timeline.lanes) == pytest.approx(
            timeline.heard_at_ms - timeline.origin_ms
        )
    finals = [e for e in result.events if isinstance(e, ev.FinalTranscript)]
    assert all(f.ear == "accurate" for f in finals)
    assert "opening hours" in finals[0].text


def test_under_a_vendor_profile_the_lane_is_the_vendor_s_figure_with_whisper_s_words(runtime):
    result = run_call(
        runtime,
        say_lines_caller(["What are your opening hours?"]),
        latency=load_profile("cloud-typical", seed=3),
        ear="accurate",
    )
    turn = result.timelines[1]
    (lane,) = [lane for lane in turn.lanes if lane.name.startswith("STT final pass")]
    assert "cloud-typical stand-in" in lane.name
    (span,) = [s for s in turn.spans if s.stage == "stt_pass"]
    assert span.detail == "charged by the cloud-typical model"
    # Started at the endpoint, as a vendor finalises: its whole charge is on the path.
    assert lane.duration_ms == pytest.approx(span.duration_ms, abs=25.0)
    assert "opening hours" in turn.caller_text


@pytest.mark.parametrize("ear", EARS)
def test_a_made_up_brand_in_the_agent_is_heard_by_both_ears(tmp_path, ear):
    """The agent's `vocabulary:` teaches the streaming pass (a generated pronunciation in its
    dictionary) and the final pass (its prompt)."""
    from workbench.audio.frames import iter_frames
    from workbench.speech.bench import padded_frames, recognise_frames
    from workbench.speech.tts import TelephoneTTS, load_synthesizer

    agent = agent_copy(tmp_path, vocabulary=["Zentrix", "Zentrix Cloud"])
    words = agent_words(agent)
    recognizer = load_ear(
        ear,
        domain_sentences=words.sentences,
        spoken_forms=words.spoken_forms,
        vocabulary=words.vocabulary,
    )
    ulaw = TelephoneTTS(load_synthesizer("piper:joe")).render(
        "I have a question about my Zentrix account."
    )
    assert list(iter_frames(ulaw))
    heard = recognise_frames(padded_frames(ulaw), recognizer)
    assert "zentrix" in heard.split(), heard


def test_a_fresh_runtime_serves_both_ears_from_one_stack():
    runtime = CallRuntime()
    agent = runtime.agent()
    stack = runtime.stack(agent)
    assert stack.final_pass() is stack.final_pass()  # loaded once, shared by every call
