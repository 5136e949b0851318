"""Callers that pursue a goal: a persona and rules that answer what the agent asks.

A scripted caller says fixed lines in a fixed order, so it is written for one agent's
wording. A goal-driven caller instead answers whatever the agent just asked: after the
scenario's steps (usually one opening line), each time the agent finishes a reply the caller
reads what the agent said (the engine's reply sentences in process; over the wire, the
caller's ear — `telephony/caller/ear.py`) and says the line of the rule whose pattern
matched latest in it (an agent's question comes at the end of its reply: "Thanks, Dana.
What's your email?" asks for the email, not the name), else the `otherwise` line. It hangs up
after a rule with `hang_up: true`, when the agent ends the call, or after `max_turns` lines.

```yaml
persona:                                   # the caller's facts; any names, used as {name}
  name: James Smith
  email: james@example.com
  date: next Tuesday
goal:
  rules:
    - {when: "/name/", say: "My name is {name}."}
    - {when: "/mail/", spell: "{email}"}  # spelled: "j a m e s at example dot com"
    - {when: "/right|correct/", say: "Yes.", check: ["{name}", "{email}"]}  # or correct it
    - {when: "/which day|what day/", say: "{date}"}
    - {when: "/anything else/", say: "No thank you, goodbye.", hang_up: true}
  otherwise: Sorry, could you say that again?
  max_turns: 12
```

Persona values fill `{name}`-style placeholders anywhere in the scenario (lines, rules and
expectations: `crm: [{object: Lead, fields: {Email: "{email}"}}]`); a placeholder that names
no persona value is left as written (a regex's `{3}` is safe).
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Rule(BaseModel):
    """`when` the agent's reply matches, say (or spell) a line."""

    model_config = ConfigDict(extra="forbid")

    when: str = Field(min_length=1, description="a substring or /regex/ of the agent's reply")
    say: str | None = None
    spell: str | None = None
    hang_up: bool = False
    # Values this answer confirms ("{name}", "{email}"): when the reply reads one back wrong
    # ("Jane Smith" for James Smith), the caller corrects it instead ("No, it's James Smith.").
    check: list[str] = Field(default_factory=list)

    @field_validator("when")
    @classmethod
    def _valid_pattern(cls, value: str) -> str:
        if len(value) > 2 and value.startswith("/") and value.endswith("/"):
            try:
                re.compile(value[1:-1])
            except re.error as error:
                raise ValueError(f"invalid regex {value!r}: {error}") from None
        return value

    @model_validator(mode="after")
    def _one_line(self) -> Rule:
        if (self.say is None) == (self.spell is None):
            raise ValueError("a rule needs exactly one of say or spell")
        return self

    def line(self) -> str:
        return self.say if self.say is not None else spelled(self.spell or "")

    def answer(self, reply: str) -> str:
        """The line for `reply`: a correction if it reads back a checked value wrong."""
        wrong = next((value for value in self.check if misread(value, reply)), None)
        return correction(wrong) if wrong is not None else self.line()

    def lines(self) -> list[str]:
        """Every line this rule can say."""
        return [self.line(), *(correction(value) for value in self.check)]


class Goal(BaseModel):
    """What a goal-driven caller answers, after the scenario's steps."""

    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(min_length=1)
    otherwise: str = "Sorry, could you say that again?"
    max_turns: int = Field(default=12, ge=1, le=100)

    def lines(self) -> list[str]:
        return [*(line for rule in self.rules for line in rule.lines()), self.otherwise]


def correction(value: str) -> str:
    """What a caller says to a wrong read-back of `value` (an email is spelled)."""
    return f"No, it's {spelled(value) if '@' in value else value}."


def _close(word: str, heard: str) -> bool:
    """`heard` is `word` misheard: near in spelling, or `word` glued to its neighbours."""
    return heard != word and (
        word in heard or difflib.SequenceMatcher(None, word, heard).ratio() >= 0.6
    )


def misread(value: str, reply: str) -> bool:
    """Whether `reply` reads `value` back wrong: some of its words are there, and another is
    missing where something like it stands ("jane smith" for James Smith, "jamesadexample
    dot com" for james@example.com). A reply that names none of it, or all of it, is no
    misreading; nor is one that leaves a word out with nothing in its place ("Thanks, David.")."""
    wanted = [w for w in re.split(r"[^a-z0-9]+", value.lower()) if w]
    heard = {w for form in heard_forms(reply) for w in re.split(r"[^a-z0-9]+", form.lower()) if w}
    missing = [w for w in wanted if w not in heard]
    if not missing or len(missing) == len(wanted):
        return False
    return any(_close(w, h) for w in missing for h in heard)


def spelled(value: str) -> str:
    """A value read out letter by letter where a person would spell it: an email's user name
    letter by letter, "@" as "at", "." as "dot" ("jo.li@example.com" → "j o dot l i at example
    dot com"); other text letter by letter, digits one by one."""
    if "@" in value:
        user, domain = value.split("@", 1)
        return f"{spelled(user)} at {' dot '.join(domain.split('.'))}"
    parts = []
    for char in value:
        if char.isalnum():
            parts.append(char.lower())
        elif char == ".":
            parts.append("dot")
        elif char in "-_":
            parts.append({"-": "dash", "_": "underscore"}[char])
    return " ".join(parts)


def fill_persona(data: Any, persona: dict[str, str]) -> Any:
    """`data` (a scenario's parsed YAML) with every `{key}` naming a persona value replaced."""
    if isinstance(data, str):
        return PLACEHOLDER.sub(lambda m: str(persona.get(m.group(1), m.group(0))), data)
    if isinstance(data, list):
        return [fill_persona(item, persona) for item in data]
    if isinstance(data, dict):
        return {key: fill_persona(value, persona) for key, value in data.items()}
    return data


def with_persona(data: Any) -> Any:
    """A scenario's raw data with its persona's values filled in (the persona itself kept)."""
    if not isinstance(data, dict) or not isinstance(data.get("persona"), dict):
        return data
    persona = {str(k): str(v) for k, v in data["persona"].items()}
    return {k: (v if k == "persona" else fill_persona(v, persona)) for k, v in data.items()}


def choose_rule(rules: list[Rule], reply: str) -> Rule | None:
    """The rule whose pattern matched latest in `reply` (ties: the first written)."""
    best: tuple[int, int] | None = None
    chosen = None
    for order, rule in enumerate(rules):
        end = _match_end(rule.when, reply)
        if end is None:
            continue
        key = (end, -order)
        if best is None or key > best:
            best, chosen = key, rule
    return chosen


def _match_end(pattern: str, text: str) -> int | None:
    """Where `pattern` last matches in `text`, in the forms the caller's ear can give."""
    ends = []
    for form in heard_forms(text):
        if len(pattern) > 2 and pattern.startswith("/") and pattern.endswith("/"):
            found = list(re.finditer(pattern[1:-1], form, re.IGNORECASE))
            if found:
                ends.append(found[-1].end() / max(1, len(form)))
        else:
            folded = " ".join(pattern.lower().split())
            at = " ".join(form.lower().split()).rfind(folded)
            if at >= 0:
                ends.append((at + len(folded)) / max(1, len(form)))
    # Positions as fractions of the text, so the forms (spaces joined or not) compare.
    return int(max(ends) * 10000) if ends else None


_SPELLED = re.compile(r"\b[a-z](?: [a-z]\b)+")


def heard_forms(text: str) -> list[str]:
    """`text` as written, and with spelled letters joined ("8 a m" → "8 am"): a transcript
    has no capitals, punctuation or reliable word breaks."""
    joined = _SPELLED.sub(lambda m: m.group(0).replace(" ", ""), text.lower())
    return [text, joined]
