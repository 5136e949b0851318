"""The scenario language: valid files load; every mistake is one line with file:line:column."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from workbench.errors import InputFileError
from workbench.scenario import schema as sc
from workbench.scenario.runner import load_all
from workbench.scenario.schema import find_scenarios, load_scenario

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    path = write(tmp_path, text)
    with pytest.raises(InputFileError) as error:
        load_scenario(path)
    return str(error.value).splitlines()


def test_a_full_scenario_loads_with_every_kind_of_step(tmp_path):
    path = write(
        tmp_path,
        """
        name: everything
        tags: [a, b]
        caller: {voice: "piper:joe", rate_wpm: 160, number: "+15550001"}
        network: {delay_ms: 40, jitter_ms: 80, loss: 0.05}
        noise: {sound: pink, snr_db: 20}
        endpointing: silence
        latency_profile: fixed
        seed: 3
        steps:
          - say: What are your opening hours?
            expect:
              topic: OpeningHours
              agent_said: [hours, "/8 ?AM/"]
              turn_latency_ms: 900
          - pause_ms: 300
          - wait_for: agent_said
            pattern: /anything else/
            timeout_ms: 5000
          - barge_in: Sorry, what about Saturday?
            at_ms: 1200
          - backchannel: uh-huh
          - dtmf: "1234#"
            interval_ms: 150
          - network: poor
          - silence_s: 2
          - hang_up: true
            now: true
        expect:
          turn_latency_ms: {p95: 1200, max: 2000}
          reprompts: {min: 0, max: 1}
          no_false_interruptions: true
          barge_in_stop_ms: 250
          crm: [{object: VoiceCall, fields: {Intent__c: OpeningHours, Description: null}}]
        """,
    )
    scenario = load_scenario(path)
    kinds = [sc.step_kind(step) for step in scenario.steps]
    assert kinds == [
        "say", "pause", "wait_for", "barge_in", "backchannel", "dtmf", "network", "silence",
        "hang_up",
    ]  # fmt: skip
    assert scenario.steps[0].expect.agent_said == ["hours", "/8 ?AM/"]
    assert scenario.network_conditions().jitter_ms == 80
    assert scenario.expect.crm[0].expected_fields() == {
        "Intent__c": "OpeningHours",
        "Description": None,
    }


def test_an_unknown_key_is_an_error_at_its_line_and_column(tmp_path):
    lines = problems(
        tmp_path,
        """
        name: typo
        steps:
          - say: hello
            expct: {topic: X}
        """,
    )
    assert lines == [
        f"{tmp_path / 's.yaml'}:4:5: steps[0].expct: unknown field (did you mean 'expect'?)"
    ]


def test_a_wrong_type_names_what_was_expected_and_what_was_given(tmp_path):
    lines = problems(
        tmp_path,
        """
        name: types
        caller: {rate_wpm: fast}
        steps:
          - pause_ms: soon
        """,
    )
    assert lines[0].endswith(
        "s.yaml:2:10: caller.rate_wpm: expected a valid integer, unable to parse string as an "
        "integer, got 'fast'"
    )
    assert lines[1].endswith(
        "s.yaml:4:5: steps[0].pause_ms: expected a valid number, unable to parse string as a "
        "number, got 'soon'"
    )


def test_a_missing_field_points_at_the_enclosing_mapping(tmp_path):
    lines = problems(
        tmp_path,
        """
        description: no name and no steps
        """,
    )
    assert [line.split(": ", 1)[1] for line in lines] == [
        "name: required field is missing",
        "steps: required field is missing",
    ]
    assert all(line.startswith(f"{tmp_path / 's.yaml'}:1:1:") for line in lines)


def test_a_bad_step_lists_the_steps_there_are(tmp_path):
    lines = problems(
        tmp_path,
        """
        name: bad-step
        steps:
          - say: hello
          - sya: hi
          - just text
        """,
    )
    expected = "not a step: expected a mapping with one of say, say_wav, pause_ms"
    assert lines[0].startswith(f"{tmp_path / 's.yaml'}:4:5: steps[1]: {expected}")
    assert lines[1].startswith(f"{tmp_path / 's.yaml'}:5:5: steps[2]: {expected}")
    assert len(lines) == 2  # no extra "steps: too short" noise


def test_a_bad_regex_is_reported_with_the_regex_error(tmp_path):
    lines = problems(
        tmp_path,
        """
        name: regex
        steps:
          - say: hello
            expect:
              agent_said: "/(unclosed/"
        """,
    )
    assert lines == [
        f"{tmp_path / 's.yaml'}:5:7: steps[0].expect.agent_said[0]: bad regex /(unclosed/: "
        "missing ), unterminated subpattern at position 0"
    ]


def test_step_arguments_and_values_are_checked(tmp_path):
    lines = problems(
        tmp_path,
        """
        name: values
        network: lossy
        steps:
          - wait_for: agent_said
          - dtmf: 1234
          - barge_in: stop
            at_ms: -5
          - say: ok
            expect: {routed_to: robot}
        expect:
          turn_latency_ms: {p99: 3}
        """,
    )
    text = "\n".join(lines)
    assert "s.yaml:2:1: network: unknown network preset 'lossy'" in text
    assert "s.yaml:4:5: steps[0]: wait_for agent_said needs a pattern" in text
    assert 's.yaml:5:5: steps[1].dtmf: quote the digits (e.g. "1234#")' in text
    assert "s.yaml:7:5: steps[2].at_ms: expected greater than or equal to 0" in text
    assert "s.yaml:9:14: steps[3].expect.routed_to: expected 'ai_resolved', 'human' or" in text
    assert "s.yaml:11:21: expect.turn_latency_ms.p99: unknown field (did you mean 'p95'?)" in text
    assert len(lines) == 6


def test_missing_files_and_unknown_profiles_are_reported_in_the_file(tmp_path):
    lines = problems(
        tmp_path,
        """
        name: files
        agent: nowhere
        latency_profile: warp-speed
        noise: {sound: office.wav, snr_db: 10}
        steps:
          - say_wav: hello.wav
        """,
    )
    assert lines[0].startswith(f"{tmp_path / 's.yaml'}:2:1: agent: no agent directory at")
    assert lines[1].startswith(f"{tmp_path / 's.yaml'}:3:1: latency_profile:")
    assert "4:9: noise.sound: expected pink, brown, babble or a WAV file" in lines[2]
    assert "6:5: steps[0].say_wav: no WAV file at" in lines[3]


def test_invalid_yaml_is_one_line_with_the_position(tmp_path):
    lines = problems(tmp_path, "name: [unclosed\nsteps: []\n")
    assert len(lines) == 1 and lines[0].startswith(f"{tmp_path / 's.yaml'}:2:")
    assert "invalid YAML" in lines[0]


def test_patterns_are_substrings_or_regexes_case_insensitively():
    assert sc.text_matches("opening  HOURS", "Our opening hours are")
    assert sc.text_matches("/8 ?AM to 6 ?PM/", "open from 8 AM to 6 PM")
    assert not sc.text_matches("closed", "Our opening hours are")


def test_directories_are_searched_and_duplicate_names_refused(tmp_path):
    step = "steps: [{say: hi}]\n"
    write(tmp_path, "name: one\n" + step, "a.yaml")
    (tmp_path / "sub").mkdir()
    write(tmp_path, "name: one\n" + step, "sub/b.yaml")
    assert [p.name for p in find_scenarios([tmp_path])] == ["a.yaml", "b.yaml"]
    with pytest.raises(InputFileError, match="is also the name of"):
        load_all([tmp_path])
    with pytest.raises(InputFileError, match="no such scenario file or directory"):
        find_scenarios([tmp_path / "missing"])


def test_every_bundled_scenario_validates():
    scenarios = load_all([REPO / "scenarios"])
    assert len(scenarios) >= 20
    names = {s.name for s in scenarios}
    assert {"barge-in-long-answer", "backchannels-long-answer", "card-payment-dtmf"} <= names
