"""The held-out WER sentences (assets/speech/heldout_ear.txt) stay held out.

The recogniser's language model, examples and lexicons are built from the agent's files, so
WER on sentences that share phrasing with them would flatter the recogniser. These tests fail,
naming the held-out line and the source it collides with, as soon as a held-out sentence (or a
six-word stretch of one) turns up in any of those sources.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from workbench.agent import load_agent
from workbench.paths import ASSETS_DIR, DEMO_AGENT_DIR, REPO_ROOT, SCENARIOS_DIR

HELDOUT_PATH = ASSETS_DIR / "speech" / "heldout_ear.txt"
SPEECH_TEXT_FILES = [
    ASSETS_DIR / "speech" / "domain_sentences.txt",
    ASSETS_DIR / "speech" / "wer_sentences.txt",
]
MIN_SENTENCES = 60
MIN_EQUAL_WORDS = 3  # "yes" or "thank you" may be said by anyone
MIN_CONTAINED_WORDS = 4
RUN_WORDS = 6

_SPELL_TAG = re.compile(r"</?spell>")
_SENTENCE_END = re.compile(r"[.?!;:\n]+")


@dataclass(frozen=True)
class HeldOut:
    line: int
    text: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{HELDOUT_PATH.name}:{self.line} {self.text!r}"


@dataclass(frozen=True)
class Reference:
    source: str
    text: str
    words: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.source}: {self.text!r}"


def normalise(text: str) -> tuple[str, ...]:
    """Lower case, no <spell> tags, no punctuation (apostrophes join), single spaces."""
    text = _SPELL_TAG.sub("", text.lower()).replace("'", "")
    return tuple(re.sub(r"[^a-z0-9]+", " ", text).split())


def read_heldout(path: Path = HELDOUT_PATH) -> list[HeldOut]:
    """One sentence per line; blank lines and '#' comment lines are skipped."""
    sentences = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if line and not line.startswith("#"):
            sentences.append(HeldOut(number, line, normalise(line)))
    return sentences


def yaml_strings(node: object, where: str = "") -> Iterator[tuple[str, str]]:
    """(key path, string) for every string in a parsed YAML document, keys included."""
    if isinstance(node, str):
        yield where, node
    elif isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str):
                yield where, key
            yield from yaml_strings(value, f"{where}.{key}" if where else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from yaml_strings(value, f"{where}[{index}]")


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


def raw_sources() -> Iterator[tuple[str, str]]:
    """(source, text) for everything the recogniser, the agent and the scenarios are built from."""
    for path in sorted((ASSETS_DIR / "agents").glob("*/*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for where, text in yaml_strings(data):
            yield f"{_relative(path)} ({where})", text
    for path in SPEECH_TEXT_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            yield f"{_relative(path)}:{number}", line
    # Every string of every scenario: the `say:` texts and, for good measure, the rest.
    for path in sorted(SCENARIOS_DIR.glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for where, text in yaml_strings(data):
            yield f"{_relative(path)} ({where})", text
    # Last, so a copy is reported against the file it came from when there is one.
    for sentence in load_agent(DEMO_AGENT_DIR).domain_sentences():
        yield "load_agent(DEMO_AGENT_DIR).domain_sentences()", sentence


@pytest.fixture(scope="module")
def heldout() -> list[HeldOut]:
    return read_heldout()


@pytest.fixture(scope="module")
def references() -> list[Reference]:
    """Each source string whole, and each of its sentences on its own."""
    found: dict[tuple[str, ...], Reference] = {}
    for source, text in raw_sources():
        for piece in [text, *_SENTENCE_END.split(text)]:
            words = normalise(piece)
            if words and words not in found:
                found[words] = Reference(source, piece.strip(), words)
    return list(found.values())


def _contains(outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    return f" {' '.join(inner)} " in f" {' '.join(outer)} "


def _runs(words: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for start in range(len(words) - RUN_WORDS + 1):
        yield words[start : start + RUN_WORDS]


def _heldout(line: int, text: str) -> HeldOut:
    return HeldOut(line, text, normalise(text))


def collisions(heldout: list[HeldOut], references: list[Reference]) -> list[str]:
    """Held-out sentences equal to, inside, or containing a reference sentence."""
    problems = []
    for sentence in heldout:
        for ref in references:
            if sentence.words == ref.words and len(ref.words) >= MIN_EQUAL_WORDS:
                problems.append(f"{sentence} equals {ref}")
            elif len(ref.words) >= MIN_CONTAINED_WORDS and _contains(ref.words, sentence.words):
                problems.append(f"{sentence} is contained in {ref}")
            elif len(ref.words) >= MIN_CONTAINED_WORDS and _contains(sentence.words, ref.words):
                problems.append(f"{sentence} contains {ref}")
    return problems


def shared_runs(heldout: list[HeldOut], references: list[Reference]) -> list[str]:
    """Held-out sentences sharing six consecutive words with a reference (near copies)."""
    first_seen: dict[tuple[str, ...], Reference] = {}
    for ref in references:
        for run in _runs(ref.words):
            first_seen.setdefault(run, ref)
    problems = []
    for sentence in heldout:
        for run in _runs(sentence.words):
            if run in first_seen:
                problems.append(f"{sentence} shares {' '.join(run)!r} with {first_seen[run]}")
                break
    return problems


def test_normalising_drops_case_tags_and_punctuation():
    """Spelled letters are compared as the word they spell; punctuation never hides a copy."""
    assert normalise("My email's <spell>ab</spell> at Foo-Bar dot com, OK?") == (
        "my", "emails", "ab", "at", "foo", "bar", "dot", "com", "ok",
    )  # fmt: skip


def test_the_reader_skips_comments_and_blank_lines(tmp_path):
    path = tmp_path / "heldout.txt"
    path.write_text("# a header\n\nFirst line.\n  \n# note\nSecond line?\n", encoding="utf-8")
    assert [(s.line, s.text) for s in read_heldout(path)] == [
        (3, "First line."),
        (6, "Second line?"),
    ]


def test_the_set_is_large_enough_to_measure(heldout):
    """Fewer than 60 sentences make the WER too noisy to compare recognisers."""
    assert len(heldout) >= MIN_SENTENCES, f"{HELDOUT_PATH}: only {len(heldout)} sentences"


def test_the_sources_are_actually_read(references):
    """A guard for the guard: an empty reference list would let every copy through."""
    sources = {ref.source.split(" ")[0].split(":")[0] for ref in references}
    assert "load_agent(DEMO_AGENT_DIR).domain_sentences()" in sources
    assert _relative(DEMO_AGENT_DIR / "agent.yaml") in sources
    assert all(_relative(path) in sources for path in SPEECH_TEXT_FILES)
    assert any(source.startswith("scenarios/") for source in sources)
    assert any(ref.words == ("where", "is", "my", "order") for ref in references)


def test_no_heldout_sentence_is_copied_from_the_sources(heldout, references):
    """Equal, contained or containing sentences mean the recogniser was tuned on the set."""
    problems = collisions(heldout, references)
    assert not problems, "held-out sentences found in tuned sources:\n" + "\n".join(problems)


def test_no_heldout_sentence_shares_six_words_with_the_sources(heldout, references):
    """Six words in a row shared with a source is a near copy, lightly edited."""
    problems = shared_runs(heldout, references)
    assert not problems, "held-out sentences near-copied from sources:\n" + "\n".join(problems)


def test_a_copied_line_is_caught(references):
    """The checks can fail: a line lifted from a source, or edited around it, is reported."""
    copied = _heldout(1, "Where is my order?")
    padded = _heldout(2, "Um, where is my order, please?")
    problems = collisions([copied, padded], references)
    assert any(problem.startswith(f"{copied} equals ") for problem in problems)
    assert any(problem.startswith(f"{padded} contains ") for problem in problems)
    near = _heldout(3, "Well, I was charged twice on my card this month, honestly.")
    assert shared_runs([near], references)
