"""Actions declared in agent.yaml: CRM writes from templates, a webhook (against a real local
HTTP server: timeout, retry, its reply in the next sentence), times offered from a schedule,
hand-offs and ending the call; and the conversation acts and digressions around them."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from workbench.agent import load_agent
from workbench.agent.definition import ScheduleSpec
from workbench.agent.flow.backoffice import free_times
from workbench.agent.speakable import shown_text
from workbench.errors import InputFileError

NOW = datetime(2026, 12, 7, 10, 0)  # a Monday

AGENT = """\
name: Test Clinic
company: Test Clinic
persona: A receptionist.
voice: espeak:en-us
greeting: Hello.
topics:
  - name: Book
    examples: [book an appointment, i need an appointment, can i come in, make a booking, schedule a visit, i'd like to book a cleaning]
    slots:
      - name: name
        type: person_name
        prompt: May I have your name?
        confirm: spell
        read_back: "Got it: {value}. Correct?"
      - name: birth_date
        type: date_of_birth
        prompt: Your date of birth?
        read_back: "Born {value}. Correct?"
      - name: day
        type: date
        prompt: Which day?
        confirm: none
    action: book
    answer: ["Booked for {when_spoken}, reference {booking.reference}."]
  - name: Hours
    examples: [when are you open, what are your hours, are you open on saturday, opening hours, hours please]
    knowledge: [hours]
    answer: ["{knowledge}"]
  - name: Urgent
    examples: [i'm in pain, my tooth broke, it's an emergency, i'm bleeding, terrible toothache]
    action: urgent
  - name: Quit
    examples: [stop the call, end this call, hang up now, i want to end the call, finish the call]
    action: finish
actions:
  book:
    - offer_times: {schedule: chairs, day_slot: day, into: when}
    - webhook: {url: "URL", timeout_s: 0.5, retries: 1, save_as: booking, then: handoff}
    - crm:
        object: Task
        fields: {Subject: "Visit for {name}", ActivityDate: "{when_date}", Description: "born {birth_date}, from {caller.phone}"}
  urgent:
    - handoff: {queue: On call, skills: [triage], priority: high, say: ["Putting you through now."]}
  finish:
    - end_call: {say: ["Goodbye then."]}
schedules:
  chairs:
    open: "09:00"
    close: "12:00"
    slot_minutes: 60
    booked: ["tuesday 09:00", "2026-12-08T10:00"]
"""


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []
    mode = "ok"
    calls = 0

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append(body)
        type(self).calls += 1
        if self.mode == "slow_once" and type(self).calls == 1:
            time.sleep(1.0)  # longer than timeout_s: the first attempt times out
        if self.mode == "fail":
            self.send_response(500)
            self.end_headers()
            return
        reply = json.dumps({"reference": "BK-7"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def hook():
    _Hook.received, _Hook.mode, _Hook.calls = [], "ok", 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def make_agent(tmp_path: Path, url: str, text: str = AGENT):
    (tmp_path / "knowledge").mkdir(exist_ok=True)
    (tmp_path / "knowledge" / "hours.md").write_text(
        "# Hours\n\n## Weekdays\nWe are open Monday to Friday from 9 to 12.\n"
    )
    (tmp_path / "agent.yaml").write_text(text.replace("URL", url))
    return load_agent(tmp_path)


def talk(agent, *lines):
    from workbench.agent import CallerContext

    conv = agent.new_conversation(CallerContext(phone="+15550100"), reference=NOW)
    agent.greet(conv)
    replies = [agent.respond(conv, line)[1] for line in lines]
    return conv, replies


def said(reply) -> str:
    return " ".join(shown_text(s) for s in reply.sentences)


@pytest.mark.network
def test_a_booking_offers_free_times_calls_the_webhook_and_writes_the_crm(tmp_path, hook):
    agent = make_agent(tmp_path, f"http://127.0.0.1:{hook.server_port}/book")
    conv, replies = talk(
        agent,
        "I'd like to book an appointment tomorrow",
        "It's for Maria Lopez",
        "yes",
        "the ninth of May nineteen seventy two",
        "yes",
        "the first one",
    )
    assert "Which day" not in said(replies[0])  # tomorrow filled the day, not the birth date
    assert said(replies[0]) == "May I have your name?"
    assert said(replies[1]) == "Got it: Maria Lopez, spelled M-A-R-I-A L-O-P-E-Z. Correct?"
    assert said(replies[3]) == "Born May 9, 1972. Correct?"
    # Tuesday 9:00 is booked every week and 10:00 on this Tuesday: 11:00 is the first free.
    assert said(replies[4]) == "I can offer Tuesday, December 8 at 11 AM. Which would you prefer?"
    assert said(replies[5]).startswith("Booked for Tuesday, December 8 at 11 AM, reference BK-7.")
    assert _Hook.received == [
        {
            "action": "book",
            "topic": "Book",
            "slots": {
                "day": "2026-12-08",
                "name": "Maria Lopez",
                "birth_date": "1972-05-09",
                "when": "2026-12-08T11:00",
            },
            "caller": {"phone": "+15550100"},
            "call": {"date": "2026-12-07"},
        }
    ]
    assert conv.intended_crm_actions == [
        {
            "object": "Task",
            "fields": {
                "Subject": "Visit for Maria Lopez",
                "ActivityDate": "2026-12-08",
                "Description": "born 1972-05-09, from +15550100",
            },
        }
    ]


@pytest.mark.network
def test_a_webhook_that_times_out_is_retried(tmp_path, hook):
    _Hook.mode = "slow_once"
    agent = make_agent(tmp_path, f"http://127.0.0.1:{hook.server_port}/book")
    _, replies = talk(
        agent, "book an appointment for tomorrow", "this is Dana Lee", "yes", "May 9 1972", "yes",
        "yes",
    )  # fmt: skip
    assert _Hook.calls == 2
    assert "reference BK-7" in said(replies[-1])


@pytest.mark.network
def test_a_failing_webhook_is_said_and_hands_off(tmp_path, hook):
    _Hook.mode = "fail"
    agent = make_agent(tmp_path, f"http://127.0.0.1:{hook.server_port}/book")
    conv, replies = talk(
        agent, "book an appointment for tomorrow", "this is Dana Lee", "yes", "May 9 1972", "yes",
        "yes",
    )  # fmt: skip
    assert _Hook.calls == 2  # one try and one retry
    assert "booking system isn't answering" in said(replies[-1])
    assert replies[-1].routing == "human" and conv.ended
    assert conv.intended_crm_actions[0]["fields"]["Subject"].startswith("Call transferred")


def test_handoff_carries_queue_skills_and_priority(tmp_path):
    agent = make_agent(tmp_path, "http://127.0.0.1:9/none")
    conv, replies = talk(agent, "it's an emergency, my tooth broke")
    handoff = replies[0].actions[0]
    assert handoff.kind == "handoff"
    assert (handoff.params["queue"], handoff.params["skills"], handoff.params["priority"]) == (
        "On call",
        ["triage"],
        "high",
    )
    assert said(replies[0]) == "Putting you through now." and replies[0].end_call


def test_end_call_ends_the_call(tmp_path):
    agent = make_agent(tmp_path, "http://127.0.0.1:9/none")
    conv, replies = talk(agent, "I want to end the call")
    assert said(replies[0]) == "Goodbye then." and replies[0].end_call and conv.ended


def test_small_talk_never_starts_a_topic_and_a_digression_returns_to_the_slot(tmp_path):
    agent = make_agent(tmp_path, "http://127.0.0.1:9/none")
    conv, replies = talk(
        agent,
        "uh-huh",
        "I need an appointment",
        "this is Dana Lee",
        "yes",
        "are you open on saturday?",
        "hold on a second",
        "sorry, can you say that again?",
        "thank you",
    )
    assert said(replies[0]) == "How can I help you today?" and conv.topics_seen == ["Book"]
    assert said(replies[4]) == (
        "We are open Monday to Friday from 9 to 12. Now, back to my question. Your date of birth?"
    )
    assert said(replies[5]) == "Sure, take your time."
    assert said(replies[6]) == "Sure. " + said(replies[4])
    assert said(replies[7]) == "You're welcome. Your date of birth?"
    assert conv.pending_slot == "birth_date" and not conv.ended


def test_free_times_skip_booked_closed_and_full_days():
    schedule = ScheduleSpec(
        days=["monday", "tuesday"], open="09:00", close="11:00", slot_minutes=60,
        booked=["tuesday 09:00", "tuesday 10:00"],
    )  # fmt: skip
    # Tuesday the 8th is full, Wednesday to Sunday closed: next Monday.
    assert free_times(schedule, NOW, "2026-12-08", 2) == ["2026-12-14T09:00", "2026-12-14T10:00"]
    assert free_times(schedule, NOW, "2026-12-14T10:00", 2) == ["2026-12-14T10:00"]
    assert free_times(schedule, NOW, None, 1) == ["2026-12-14T09:00"]  # from tomorrow on


def test_undeclared_names_are_errors_with_suggestions(tmp_path):
    text = AGENT.replace("action: urgent", "action: urgnet").replace(
        "schedule: chairs", "schedule: chair"
    )
    with pytest.raises(InputFileError) as caught:
        make_agent(tmp_path, "http://127.0.0.1:9/none", text)
    lines = str(caught.value).splitlines()
    assert lines[0].endswith(
        "topics[2].action: no action 'urgnet' (did you mean 'urgent'?); declare it under "
        "actions:, or answer from knowledge with action: answer"
    )
    assert (
        "actions.book[0].offer_times.schedule: no schedule 'chair' (did you mean 'chairs'?)"
        in (lines[1])
    )


def test_yeah_answers_a_yes_no_slot_rather_than_acknowledging(tmp_path):
    text = AGENT.replace(
        "      - name: day\n",
        "      - name: new_patient\n        type: yes_no\n        prompt: Is this your first visit?\n"
        "        confirm: none\n      - name: day\n",
    )
    agent = make_agent(tmp_path, "http://127.0.0.1:9/none", text)
    conv, replies = talk(
        agent, "I need an appointment", "this is Dana Lee", "yes", "May 9 1972", "yes", "yeah"
    )
    assert said(replies[4]) == "Is this your first visit?"
    assert conv.captured["new_patient"] == "yes" and said(replies[5]) == "Which day?"


def test_a_date_of_birth_said_in_two_goes_is_put_together(tmp_path):
    agent = make_agent(tmp_path, "http://127.0.0.1:9/none")
    conv, replies = talk(
        agent, "I need an appointment", "this is Dana Lee", "yes", "the ninth of May",
        "nineteen seventy two",
    )  # fmt: skip
    assert said(replies[3]) == "And the year?"
    assert said(replies[4]) == "Born May 9, 1972. Correct?"
    assert conv.captured["birth_date"] == "1972-05-09"
