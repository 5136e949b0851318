"""Pronunciation lexicon: how to say the words a voice gets wrong, applied before synthesis.

A lexicon file is YAML with two optional sections:

    words:                      # whole words, matched case-insensitively
      Northwind: North wind
      SQL: sequel
    patterns:                   # regular expressions (Python syntax), applied in order
      - pattern: '\\bNW-(\\d+)\\b'
        say: 'North wind order <digits>\\1</digits>'

Patterns run first, then words (in one pass, longest first, so a replacement is never
replaced again). A replacement may use the number-reading markup of `workbench.speech.numbers`
(`<digits>`, `<spell>`), which is applied after the lexicon. A malformed file raises
`InputFileError` naming the file, the line and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from workbench.errors import InputFileError
from workbench.paths import ASSETS_DIR
from workbench.yamlfile import parse_with, read_text

DEFAULT_LEXICON_PATH = ASSETS_DIR / "voices" / "default_lexicon.yaml"

_GROUP_REFERENCE = re.compile(r"\\(\d+)|\\g<(\d+)>")


@dataclass(frozen=True)
class LexiconPattern:
    """A regular expression and what to say instead (may use \\1 or \\g<1> for groups)."""

    pattern: re.Pattern[str]
    say: str


@dataclass(frozen=True)
class Lexicon:
    """Whole-word replacements (keys lower-cased) and regular-expression replacements."""

    words: dict[str, str] = field(default_factory=dict)
    patterns: tuple[LexiconPattern, ...] = ()

    def __post_init__(self) -> None:
        words = {word.lower(): say for word, say in self.words.items()}
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "_word_pattern", _compile_words(words))

    @classmethod
    def load(cls, path: str | Path) -> Lexicon:
        """Read and validate a lexicon file; any problem raises `InputFileError`."""
        root = parse_with(path, read_text(path, "lexicon"), yaml.compose)
        return _LexiconParser(str(path)).parse(root)

    def spoken_forms(self) -> dict[str, str]:
        """Written word → how it is said, for the recogniser's dictionary (entries using
        reading-mode markup are left out: they are not words)."""
        return {word: say for word, say in self.words.items() if "<" not in say}

    @classmethod
    def default(cls) -> Lexicon:
        """The lexicon shipped in assets/voices/default_lexicon.yaml."""
        return cls.load(DEFAULT_LEXICON_PATH)

    @classmethod
    def from_mapping(cls, data: dict[str, Any], source: str = "lexicon") -> Lexicon:
        """Build from already-parsed data of the file's shape (e.g. a section of an agent file)."""
        return _LexiconParser(source).parse(yaml.compose(yaml.safe_dump(data)))

    def extend(self, other: Lexicon) -> Lexicon:
        """A lexicon with this one's entries and `other`'s; `other` wins where both have a word."""
        return Lexicon({**self.words, **other.words}, self.patterns + other.patterns)

    def apply(self, text: str) -> str:
        """The text with every pattern, then every word, replaced by how to say it."""
        for entry in self.patterns:
            text = entry.pattern.sub(entry.say, text)
        word_pattern: re.Pattern[str] | None = self._word_pattern  # type: ignore[attr-defined]
        if word_pattern is None:
            return text
        return word_pattern.sub(lambda m: self.words[m.group(0).lower()], text)

    def __len__(self) -> int:
        return len(self.words) + len(self.patterns)


def _compile_words(words: dict[str, str]) -> re.Pattern[str] | None:
    if not words:
        return None
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    # Whole words only; "<" and "/" keep a word from matching inside a markup tag.
    return re.compile(rf"(?<![\w</])(?:{alternatives})(?!\w)", re.IGNORECASE)


class _LexiconParser:
    """Walks the YAML node tree so every error can name its line."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node | None, where: str, problem: str) -> InputFileError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return InputFileError(f"{self.source}{line}: {where}: {problem}")

    def parse(self, root: yaml.Node | None) -> Lexicon:
        if root is None:
            return Lexicon()
        if not isinstance(root, yaml.MappingNode):
            raise self.fail(root, "lexicon", "expected a mapping with 'words' and/or 'patterns'")
        words: dict[str, str] = {}
        patterns: list[LexiconPattern] = []
        for key_node, value_node in root.value:
            key = self.scalar(key_node, "lexicon", "a section name")
            if key == "words":
                words = self.words(value_node)
            elif key == "patterns":
                patterns = self.patterns(value_node)
            else:
                raise self.fail(key_node, key, "unknown section (expected 'words' or 'patterns')")
        return Lexicon(words, tuple(patterns))

    def scalar(self, node: yaml.Node, where: str, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
            raise self.fail(node, where, f"expected {what} (a non-empty text)")
        return str(node.value)

    def words(self, node: yaml.Node) -> dict[str, str]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return {}
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, "words", "expected a mapping of word: how to say it")
        words: dict[str, str] = {}
        for key_node, value_node in node.value:
            word = self.scalar(key_node, "words", "a word")
            say = self.scalar(value_node, f"words.{word}", "how to say it")
            if word.lower() in (w.lower() for w in words):
                raise self.fail(key_node, f"words.{word}", "listed twice")
            words[word.strip()] = say
        return words

    def patterns(self, node: yaml.Node) -> list[LexiconPattern]:
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, "patterns", "expected a list of {pattern: ..., say: ...}")
        entries = []
        for index, item in enumerate(node.value):
            where = f"patterns[{index}]"
            if not isinstance(item, yaml.MappingNode):
                raise self.fail(item, where, "expected a mapping with 'pattern' and 'say'")
            fields: dict[str, tuple[yaml.Node, str]] = {}
            for key_node, value_node in item.value:
                key = self.scalar(key_node, where, "a field name")
                if key not in ("pattern", "say"):
                    raise self.fail(key_node, f"{where}.{key}", "unknown field")
                fields[key] = (value_node, self.scalar(value_node, f"{where}.{key}", key))
            for required in ("pattern", "say"):
                if required not in fields:
                    raise self.fail(item, f"{where}.{required}", "missing")
            pattern_node, source = fields["pattern"]
            try:
                pattern = re.compile(source)
            except re.error as error:
                raise self.fail(
                    pattern_node, f"{where}.pattern", f"invalid regular expression ({error})"
                ) from None
            say_node, say = fields["say"]
            for match in _GROUP_REFERENCE.finditer(say):
                group = int(match.group(1) or match.group(2))
                if group > pattern.groups:
                    raise self.fail(
                        say_node,
                        f"{where}.say",
                        f"refers to group {group} but the pattern has {pattern.groups}",
                    )
            entries.append(LexiconPattern(pattern, say))
        return entries
