"""The general action kinds Northwind is written with: a lookup in a table the agent ships
(found / not found, asked again, then a fallback), an offer answered yes or no (each with its
own steps), finish, a reference number, a CRM field chosen from another value; and the clear
message for an agent that still names a kind that used to be built in."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from workbench.agent import CallerContext, load_agent
from workbench.agent.definition import ACTION_KINDS, REMOVED_KINDS
from workbench.agent.tables import find_row
from workbench.errors import InputFileError
from workbench.paths import DEMO_AGENT_DIR, REPO_ROOT

NOW = datetime(2026, 12, 7, 10, 0)

AGENT = """\
name: Test Shop
company: Test Shop
persona: A receptionist.
voice: espeak:en-us
greeting: Hello.
topics:
  - name: Parcel
    examples: [where is my parcel, track my parcel, has my parcel shipped, parcel status, my parcel is late]
    slots:
      - name: tracking
        type: identifier
        pattern: "TS[0-9]{4}"
        prompt: What's the tracking number?
        confirm: none
    action: track
    answer: ["Parcel {tracking} is {parcel.status}."]
  - name: Leave
    examples: [cancel my membership, i want to leave, end my membership, stop my plan, i quit the club]
    slots:
      - name: name
        type: person_name
        prompt: May I have your name?
        confirm: none
    action: leave
    answer: ["Your membership ends today, {name}."]
    routing: workflow
  - name: Complaint
    examples: [i want to complain, i have a complaint, this is a complaint, file a complaint, complain please]
    slots:
      - name: name
        type: person_name
        prompt: May I have your name?
        confirm: none
      - name: problem
        type: text
        prompt: What went wrong?
        confirm: none
    action: complain
    answer: ["Your reference is {ticket_spoken}."]
actions:
  track:
    - lookup:
        table: parcels.yaml
        column: tracking
        value: "{tracking}"
        into: parcel
        not_found:
          - ask_again:
              slot: tracking
              say: ["I can't find {tracking}. What's the tracking number?"]
              times: 1
          - handoff: {queue: Parcels, say: ["Let me get a colleague."]}
  leave:
    - offer:
        say: ["We can give you a free month. Would you like to stay?"]
        yes:
          - crm: {object: Task, fields: {Subject: "{name} stayed"}}
          - finish: {say: ["Great, you're staying."]}
        no:
          - crm: {object: Case, fields: {Subject: "{name} left"}}
  complain:
    - reference: {prefix: TK, into: ticket}
    - crm:
        object: Case
        fields:
          Subject: "{problem_short}"
          Description: "{problem} ({ticket}) from {name_last}, {name_first}"
          Priority: {from: "{caller.vip}", values: {"true": High}, default: Low}
          SuppliedName: "{caller.account}"
"""

PARCELS = """\
parcels:
  - {tracking: TS-1234, status: out for delivery}
  - {tracking: TS-9999, status: delayed}
"""


def make_agent(tmp_path: Path, text: str = AGENT):
    (tmp_path / "agent.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "parcels.yaml").write_text(PARCELS, encoding="utf-8")
    return load_agent(tmp_path)


def talk(agent, *lines: str, caller: CallerContext | None = None):
    conv = agent.new_conversation(caller, reference=NOW)
    agent.greet(conv)
    return conv, [agent.respond(conv, line)[1] for line in lines]


def said(reply) -> str:
    return " ".join(reply.sentences)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    return make_agent(tmp_path_factory.mktemp("shop"))


def test_a_found_row_is_used_in_the_answer(shop):
    conv, replies = talk(shop, "where is my parcel", "it's T S one two three four")
    lookup = replies[1].actions[0]
    assert lookup.kind == "lookup" and lookup.result["found"]
    assert lookup.params == {"table": "parcels.yaml", "column": "tracking", "value": "TS1234"}
    assert said(replies[1]).startswith("Parcel TS1234 is out for delivery.")


def test_rows_match_ignoring_case_spaces_and_dashes():
    rows = [{"number": "NW-48213"}]
    assert find_row(rows, "number", "nw 48213") == rows[0]
    assert find_row(rows, "number", "NW48213") == rows[0]
    assert find_row(rows, "number", "NW-48214") is None
    assert find_row(rows, "number", "") is None


def test_not_found_asks_again_then_falls_back_to_a_handoff(shop):
    conv, replies = talk(shop, "track my parcel", "T S five five five five")
    assert said(replies[1]) == "I can't find TS5555. What's the tracking number?"
    assert replies[1].actions[0].result == {"found": False}
    assert conv.pending_slot == "tracking" and "tracking" not in conv.captured
    assert conv.reprompt_count == 1  # asking again is a re-prompt
    # `times: 1`: the second miss runs the step after ask_again.
    replies.append(shop.respond(conv, "T S five five five six")[1])
    assert said(replies[2]) == "Let me get a colleague."
    assert replies[2].routing == "human" and replies[2].actions[-1].params["queue"] == "Parcels"


def test_a_not_found_that_is_then_found_carries_on(shop):
    _, replies = talk(shop, "track my parcel", "T S five five five five", "T S nine nine nine nine")
    assert said(replies[2]).startswith("Parcel TS9999 is delayed.")


def test_an_offer_answered_no_runs_the_no_steps_then_the_topics_answer(shop):
    conv, replies = talk(shop, "cancel my membership", "this is Dana Lee")
    assert said(replies[1]) == "We can give you a free month. Would you like to stay?"
    assert conv.stage == "yes_no_offer" and not conv.intended_crm_actions
    replies.append(shop.respond(conv, "no thanks")[1])
    assert [a.kind for a in replies[2].actions] == ["offer", "crm"]
    assert replies[2].actions[0].result == {"accepted": "no"}
    assert conv.intended_crm_actions == [{"object": "Case", "fields": {"Subject": "Dana Lee left"}}]
    assert said(replies[2]).startswith("Your membership ends today, Dana Lee.")
    assert replies[2].routing == "workflow" and replies[2].end_call


def test_an_offer_answered_yes_runs_the_yes_steps_and_finish_ends_the_request(shop):
    conv, replies = talk(shop, "cancel my membership", "this is Dana Lee", "um", "yes")
    assert said(replies[2]) == "Sorry, was that a yes or a no?"  # the default reprompt
    assert conv.intended_crm_actions == [
        {"object": "Task", "fields": {"Subject": "Dana Lee stayed"}}
    ]
    assert said(replies[3]) == (
        "Great, you're staying. Is there anything else I can help you with?"
    )  # finish: its own words instead of the topic's answer, and the call goes on
    assert replies[3].routing is None and conv.outcome == "ai_resolved"


def test_silence_during_an_offer_repeats_its_question(shop):
    conv, _ = talk(shop, "cancel my membership", "this is Dana Lee")
    assert said(shop.no_input(conv)) == (
        "Are you still there? How can I help? Sorry, was that a yes or a no?"
    )


def test_a_reference_is_spoken_and_fields_are_chosen_split_and_shortened(shop):
    problem = (
        "the delivery driver left my parcel in the rain behind the garden shed and everything "
        "inside it was soaked through"
    )
    vip = CallerContext("+14155550100", None, account="Acme", vip=True)
    conv, replies = talk(shop, "i have a complaint", "this is Dana Lee", problem, caller=vip)
    ticket = conv.captured["ticket"]
    assert ticket.startswith("TK-") and replies[2].actions[0].kind == "reference"
    assert said(replies[2]).startswith(
        f"Your reference is <spell>TK</spell> <digits>{ticket[3:]}</digits>."
    )
    fields = conv.intended_crm_actions[0]["fields"]
    assert fields["Subject"].endswith("...") and len(fields["Subject"]) <= 80
    assert fields["Description"] == f"{problem} ({ticket}) from Lee, Dana"
    assert fields["Priority"] == "High" and fields["SuppliedName"] == "Acme"
    conv, _ = talk(shop, "i have a complaint", "this is Dana", problem)  # no caller ID
    fields = conv.intended_crm_actions[0]["fields"]
    assert fields["Priority"] == "Low" and "SuppliedName" not in fields  # empty: left out
    assert fields["Description"].endswith("from Dana, ")  # one word: the last name


def test_yes_and_no_keys_need_no_quotes_in_yaml(shop):
    step = shop.definition.actions["leave"][0]
    assert step.offer is not None and step.offer.yes and step.offer.no


def test_a_lookup_names_a_table_and_a_column_that_exist(tmp_path):
    with pytest.raises(InputFileError, match=r"no column 'trackin' in parcels.yaml \(did you"):
        make_agent(tmp_path, AGENT.replace("column: tracking", "column: trackin"))
    with pytest.raises(InputFileError, match=r"actions.track\[0\].lookup.table: file not found"):
        make_agent(tmp_path, AGENT.replace("table: parcels.yaml", "table: parcel.yaml"))


def test_the_northwind_agent_uses_only_declared_actions():
    agent = load_agent(DEMO_AGENT_DIR)
    assert ACTION_KINDS == ("answer",)  # the only kind the format builds in
    for topic in agent.definition.topics:
        assert topic.action == "answer" or topic.action in agent.definition.actions, topic.name
    used = {t.action for t in agent.definition.topics} - {"answer"}
    assert used == {
        "book_demo", "update_address", "open_case", "look_up_order", "cancel_subscription",
        "to_a_person",
    }  # fmt: skip
    # No Northwind-only Python is left behind the declared actions.
    flow = sorted((REPO_ROOT / "workbench" / "agent" / "flow").glob("*.py"))
    assert "responder.py" in [path.name for path in flow]
    for path in flow:
        source = path.read_text(encoding="utf-8")
        for word in ("retention", "demo", "open_case", "lookup_order", "orders"):
            assert word not in source, (path.name, word)


@pytest.mark.parametrize("kind", sorted(REMOVED_KINDS))
def test_check_says_how_a_removed_kind_is_declared_now(tmp_path, kind):
    text = AGENT.replace("action: track\n", f"action: {kind}\n")
    (tmp_path / "agent.yaml").write_text(text, encoding="utf-8")
    (tmp_path / "parcels.yaml").write_text(PARCELS, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "workbench", "check", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"topics[0].action: '{kind}' is no longer built in; declare it under actions: as " in (
        done.stdout + done.stderr
    )


def test_old_topic_templates_and_the_order_book_field_say_what_replaced_them(tmp_path):
    text = AGENT.replace(
        "    action: track\n", "    action: track\n    templates:\n      not_found: [Sorry.]\n"
    )
    text = text.replace("action: leave", "action: cancel_subscription") + "orders: orders.yaml\n"
    with pytest.raises(InputFileError) as caught:
        make_agent(tmp_path, text)
    problems = str(caught.value)  # all at once, each where it is written
    assert len(problems.splitlines()) == 3
    assert ":16:5: topics[0].templates: no longer a topic field; an action's wording" in problems
    assert (
        ":72:1: orders: no longer a field; look rows up in the file with a lookup step: "
        '- lookup: {table: orders.yaml, column: number, value: "{order_number}", into: order} '
        "(see docs/designer-guide.md#actions-what-the-agent-does)"
    ) in problems
    assert "topics[1].action: 'cancel_subscription' is no longer built in" in problems


def test_check_finds_a_bad_crm_field_inside_an_offers_branch(tmp_path):
    from workbench.agent.definition import load_definition
    from workbench.scenario.check import crm_field_problems

    text = AGENT.replace('fields: {Subject: "{name} left"}', 'fields: {Subjet: "{name} left"}')
    (tmp_path / "agent.yaml").write_text(text, encoding="utf-8")
    (problem,) = crm_field_problems(
        tmp_path / "agent.yaml", load_definition(tmp_path / "agent.yaml")
    )
    assert "actions.leave[0].offer.no[0].crm.fields.Subjet: Case.Subjet: no such field" in problem
    assert "(did you mean 'Subject'?)" in problem
