"""Splitting a turn that asks several things at once into its sub-questions.

"what are your hours and can i also change my address" is two requests; the flow responder
answers them one after the other in a single reply. The splitter works on what speech-to-text
produces (lowercase words, no punctuation) as well as on typed text: it cuts at question marks,
at "and also" / "also" / "plus" before a question, at "and" followed by a question word or a
request ("and do you", "and can i", "and what", "and i need"), and before an unmistakable
question opening anywhere ("... hours how much does it cost"). Whether a piece really is a
question of its own is decided afterwards by the understanding (`Agent.split_turn` merges the
pieces no topic claims back into their neighbours).
"""

from __future__ import annotations

import re

# Words that start a question or a request after "and" / "also".
QUESTION_STARTS = (
    "what", "whats", "what's", "when", "where", "which", "who", "why", "how", "do", "does",
    "did", "are", "is", "can", "could", "will", "would", "should", "may", "i need", "i want",
    "i'd like", "id like", "i would like", "i also need", "i also want", "tell me",
)  # fmt: skip
# Openings that start a new question even without "and" ("what are your hours how much does it
# cost"): only unmistakable ones, since STT text has no commas to tell clauses apart.
# Not "do you" / "are you" / "can i": those also continue a question ("what options do you have").
STRONG_STARTS = (
    "what are", "what is", "what's", "whats", "what time", "how much", "how many", "how do i",
    "how can i", "is there", "when are", "when do", "when does", "when is", "where is", "where's",
)  # fmt: skip


def _alternatives(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)


_START = _alternatives(QUESTION_STARTS)
_STRONG = _alternatives(STRONG_STARTS)
_CUT = re.compile(
    r"\?+"  # typed question marks
    r"|[,;]?\s*\b(?:and\s+also|and\s+then|also|plus)\b[,\s]*(?=(?:" + _START + r")\b)"
    r"|[,;]?\s*\band\b[,\s]*(?=(?:" + _START + r")\b)"
    r"|[,;]\s*\b(?:and\s+)?also\b[,\s]*"
    r"|(?<=\w)[,;]?\s+(?=(?:" + _STRONG + r")\b)",
    re.IGNORECASE,
)
MIN_WORDS = 2  # a piece shorter than this is never a question of its own
# A piece stands alone only if a topic claims it at least this surely (and above the agent's
# own threshold): a wrong split costs more than a missed one.
MIN_CONFIDENCE = 0.5


def split_questions(text: str) -> list[str]:
    """The sub-questions of `text`, in order, lowercase, without punctuation around them.

    Returns one piece (the whole text, tidied) when there is nothing to split at.
    """
    pieces = []
    for piece in _CUT.split(text):
        words = re.sub(r"[^\w'@.\s-]+", " ", piece.lower()).split()
        words = [w.strip(".-") for w in words]
        if any(words):
            pieces.append(" ".join(w for w in words if w))
    if not pieces:
        return [text.strip()]
    merged: list[str] = []
    for piece in pieces:
        if merged and len(piece.split()) < MIN_WORDS:
            merged[-1] += " " + piece
        else:
            merged.append(piece)
    if len(merged) > 1 and len(merged[0].split()) < MIN_WORDS:
        first = merged.pop(0)
        merged[0] = f"{first} {merged[0]}"
    return merged
