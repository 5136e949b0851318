"""Knowledge retrieval: BM25 over chunks of the agent's `knowledge/*.md` documents.

A document is split at its headings; each paragraph (or list) under a heading becomes one chunk
that carries the heading, so a chunk is a small, speakable fact ("Opening hours: Monday to
Friday, 8 am to 6 pm Pacific."). BM25 with light stemming is enough for a few dozen chunks and
costs well under a millisecond per query.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import InputFileError


@dataclass(frozen=True)
class KnowledgeChunk:
    """One retrievable fact: `source` is the file stem, `heading` the section it sits under."""

    source: str
    heading: str
    text: str
    score: float = 0.0


STOPWORDS = frozenset(
    "a an the and or but if of to in on at by for with about from is are was were be been am do "
    "does did i you we they he she it me my your our us them this that these those what when "
    "where which who how can could would should will shall may might must have has had just "
    "please there here so than then too very some any im its it's i'm you're can't don't".split()
)
_WORD = re.compile(r"[a-z0-9]+")


def _stem(word: str) -> str:
    """Crude suffix stripping: 'opening'/'opens'/'opened' -> 'open', 'holidays' -> 'holiday'."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            word = word[: -len(suffix)]
            break
    # 'price'/'priced'/'pricing' all end up as 'pric'.
    return word[:-1] if len(word) > 3 and word.endswith("e") else word


def terms(text: str) -> list[str]:
    return [_stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def split_markdown(source: str, text: str) -> list[KnowledgeChunk]:
    """Chunks: one per paragraph or list under each heading, the heading path kept."""
    chunks: list[KnowledgeChunk] = []
    title = ""
    heading = ""
    block: list[str] = []

    def flush() -> None:
        body = " ".join(line.strip().lstrip("-*").strip() for line in block if line.strip())
        if body:
            chunks.append(KnowledgeChunk(source, heading or title or source, body))
        block.clear()

    for line in text.splitlines():
        if line.startswith("#"):
            flush()
            level = len(line) - len(line.lstrip("#"))
            name = line.lstrip("#").strip()
            if level == 1:
                title, heading = name, name
            else:
                heading = f"{title}: {name}" if title else name
        elif not line.strip():
            flush()
        else:
            block.append(line)
    flush()
    return chunks


class KnowledgeIndex:
    """BM25 (k1=1.5, b=0.75) over knowledge chunks; the heading counts as part of the text."""

    def __init__(self, chunks: list[KnowledgeChunk], k1: float = 1.5, b: float = 0.75) -> None:
        self.chunks = chunks
        self._k1, self._b = k1, b
        self._docs = [Counter(terms(f"{c.heading} {c.heading} {c.text}")) for c in chunks]
        self._lengths = [sum(d.values()) for d in self._docs]
        self._avg = sum(self._lengths) / len(self._lengths) if chunks else 1.0
        df: Counter[str] = Counter()
        for doc in self._docs:
            df.update(doc.keys())
        n = len(chunks)
        self._idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    @classmethod
    def from_directory(cls, directory: Path) -> KnowledgeIndex:
        chunks: list[KnowledgeChunk] = []
        for path in sorted(directory.glob("*.md")):
            try:
                chunks.extend(split_markdown(path.stem, path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as error:
                raise InputFileError(f"{path}: cannot read knowledge document ({error})") from None
        return cls(chunks)

    def search(
        self, text: str, k: int = 3, sources: list[str] | None = None
    ) -> list[KnowledgeChunk]:
        """The `k` best chunks (score > 0), optionally only from the given source files."""
        query = terms(text)
        scored: list[tuple[float, int]] = []
        for i, doc in enumerate(self._docs):
            if sources and self.chunks[i].source not in sources:
                continue
            score = 0.0
            norm = self._k1 * (1 - self._b + self._b * self._lengths[i] / self._avg)
            for term in query:
                tf = doc.get(term, 0)
                if tf:
                    score += self._idf[term] * tf * (self._k1 + 1) / (tf + norm)
            if score > 0:
                scored.append((score, i))
        scored.sort(key=lambda item: (-item[0], item[1]))
        out = []
        for score, i in scored[:k]:
            c = self.chunks[i]
            out.append(KnowledgeChunk(c.source, c.heading, c.text, round(score, 4)))
        return out
