"""Offering a schedule's free times (`offer_times` steps) and hearing which one the caller picks.

Apart from the other action steps because the pick is a conversation of its own: a time
("two o'clock"), an ordinal ("the second one"), "yes" (the first), another day or time (offered
afresh), "no" (the times after those offered), or goodbye before anything is booked.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from workbench.agent.conversation import Conversation
from workbench.agent.definition import ActionStep
from workbench.agent.entities import extract_entities
from workbench.agent.flow.backoffice import free_times
from workbench.agent.flow.reply import Action, ReplyDraft
from workbench.agent.flow.templates import render
from workbench.agent.speakable import (
    FIRST,
    GOODBYES,
    SECOND,
    THANKS,
    WORDS,
    answer_kind,
    speak_datetime,
)

if TYPE_CHECKING:
    from workbench.agent.flow.responder import FlowResponder

_ORDINAL_PICK = re.compile(
    r"\bthe (?:first|second|last|earlier|later|other)(?: one| time)?\b(?! of)"
)


class TimeOffers:
    """Offers free times and takes the caller's pick into the step's slot."""

    def __init__(self, flow: FlowResponder) -> None:
        self.flow = flow

    def offer(self, conv: Conversation, step: ActionStep, values: dict, turn: ReplyDraft) -> bool:
        """Offer free times; True when the caller must now pick one."""
        offer = step.offer_times
        assert offer is not None
        schedule = self.flow.definition.schedules[offer.schedule]
        wanted = conv.captured.get(offer.day_slot) if offer.day_slot else None
        if conv.wanted_time:  # "do you have anything at two?"
            day = (wanted or conv.reference.date().isoformat())[:10]
            wanted = f"{day}T{conv.wanted_time}"
        times = free_times(schedule, conv.reference, wanted, offer.count)
        if not times:
            turn.say("I'm sorry, I have no free times to offer.")
            turn.note(f"no free times in schedule {offer.schedule}")
            self.flow.escalation.escalate(conv, turn, "no free times")
            return True
        conv.offered = times
        conv.stage = "offer_times"
        spoken = [speak_datetime(t) for t in times]
        values |= {f"time{i + 1}": text for i, text in enumerate(spoken)}
        values["times"] = (
            spoken[0] if len(spoken) == 1 else ", ".join(spoken[:-1]) + ", or " + spoken[-1]
        )
        turn.actions.append(
            Action("offer_times", {"schedule": offer.schedule, "wanted": wanted}, {"times": times})
        )
        turn.say(*(render(t, values) for t in offer.say))
        turn.note(f"offered {', '.join(times)}")
        return True

    def on_choice(self, conv: Conversation, text: str, turn: ReplyDraft) -> None:
        """The caller's answer to offered times: a pick (by its time, "the first", "yes"), or
        another day or time (offered afresh), or "no" (the next free times)."""
        flow = self.flow
        topic = flow.topics[conv.topic or ""]
        offer = conv.action_steps[0].offer_times if conv.action_steps else None
        if offer is None:  # nothing is offered any more
            conv.stage = None
            flow.offer_more(conv, turn)
            return
        words = set(WORDS.findall(text.lower()))
        if words & GOODBYES and words <= GOODBYES | THANKS | {"ok", "okay", "it"}:
            flow.actions.end(conv)
            flow.goodbye(conv, turn)  # nothing booked: the caller left before picking
            return
        when = next(
            (e for e in extract_entities(text, conv.reference) if e.type == "datetime"), None
        )
        if _ORDINAL_PICK.search(text.lower()):
            when = None  # "the second one" picks an offered time; it is not the 2nd of a month
        said_day = bool(when) and (
            when.value[:10] != conv.reference.date().isoformat()  # type: ignore[union-attr]
            or bool(re.search(r"\b(?:today|tonight)\b", text.lower()))
        )
        said_time = bool(when) and "T" in when.value  # type: ignore[union-attr]
        choice = None
        if said_time and not said_day:
            choice = next((t for t in conv.offered if t[11:16] == when.value[11:16]), None)  # type: ignore[union-attr]
        elif not when and words & SECOND and len(conv.offered) > 1:
            choice = conv.offered[1]
        elif not when and (words & FIRST or answer_kind(text) == "yes"):
            choice = conv.offered[0]
        if choice is None:
            if answer_kind(text) == "no" or when:
                if said_day and offer.day_slot:
                    conv.captured[offer.day_slot] = when.value[:10]  # type: ignore[union-attr]
                if said_time:
                    conv.wanted_time = when.value[11:16]  # type: ignore[union-attr]
                elif not when and conv.offered:  # "no": the times after those offered
                    last = conv.offered[-1]
                    if offer.day_slot:
                        conv.captured[offer.day_slot] = last[:10]
                    conv.wanted_time = f"{int(last[11:13]) + 1:02d}:{last[14:16]}"
                turn.note("caller wants another time")
                conv.stage = None
                flow.actions.run(conv, topic, turn)
                return
            turn.say(
                "Which would you prefer: "
                + " or ".join(speak_datetime(t) for t in conv.offered)
                + "?"
            )
            turn.note("no time choice heard")
            return
        conv.stage = None
        conv.wanted_time = None
        conv.captured[offer.into] = choice
        conv.action_steps.pop(0)
        turn.note(f"{offer.into} = {choice}")
        flow.actions.run(conv, topic, turn)
