"""`workbench bench caller-ear`: how well the caller's ear hears a served agent.

A scenario suite is played with `workbench call`'s machinery (`run_scenario_call`, the
caller's ear listening) against `workbench serve`'s server on a free loopback port, in this
process. The server's own events say what the agent spoke (each reply's sentences, cut where
a caller interrupted it); the caller's ear says what it heard. The call's heard words are
aligned with its spoken sentences (one Levenshtein alignment per call, so a turn the ear cut
differently costs nothing), and each sentence gets its own WER: its substitutions and
deletions, plus the insertions that fall after its words. The figure: the share of sentences
with WER ≤ 10 % (target ≥ 95 %), over the sentences the server's mark echoes prove were played
whole at the caller, in replies no interruption cut (a cut reply's text is the engine's
estimate of what had played, so it scores the estimate as much as the ear; a reply still
queued when the caller hung up was never heard); the share over every sentence is reported
beside it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from workbench.speech.alignment import edit_script

SENTENCE_WER_LIMIT = 0.10
TARGET_SHARE = 0.95


def sentence_wers(sentences: Sequence[str], heard: str) -> list[float]:
    """Each sentence's WER within one alignment of all `sentences` with `heard`."""
    from workbench.speech.wer import normalize_words

    ref: list[str] = []
    owner: list[int] = []
    for index, sentence in enumerate(sentences):
        words = normalize_words(sentence)
        ref += words
        owner += [index] * len(words)
    hyp = normalize_words(heard)
    errors = [0] * len(sentences)
    last_ref = -1  # the reference word an insertion follows
    for edit in edit_script(ref, hyp):
        if edit.ref is None:  # an insertion
            target = owner[last_ref] if last_ref >= 0 else (owner[0] if owner else None)
            if target is not None:
                errors[target] += 1
            continue
        last_ref = edit.ref
        if edit.op != "ok":
            errors[owner[edit.ref]] += 1
    sizes = [0] * len(sentences)
    for index in owner:
        sizes[index] += 1
    return [e / n if n else (0.0 if e == 0 else 1.0) for e, n in zip(errors, sizes, strict=True)]


def spoken_sentences(
    events: Sequence[Any], heard: Sequence[Any] | None = None
) -> tuple[list[str], set[int]]:
    """What the agent spoke on a call, sentence by sentence (cut where it was interrupted),
    and the indexes of the sentences that do not test the ear: those of replies an
    interruption cut (their text is the engine's estimate of what had played, not a sentence
    the caller heard whole) and, given the server's mark echoes (`heard`), those not proven
    played whole at the caller."""
    from workbench.engine import events as ev
    from workbench.scenario.assertions import spoken_by_turn

    cut_turns = {
        e.turn for e in events if isinstance(e, ev.AgentAudioStopped) and e.reason == "interrupted"
    }
    said = {t: [s for s in texts if s.strip()] for t, texts in spoken_by_turn(events).items()}
    proven = proven_played(said, heard) if heard is not None else None
    sentences: list[str] = []
    cut: set[int] = set()
    for turn in sorted(said):
        for index, text in enumerate(said[turn]):
            unproven = proven is not None and f"{turn}:{index}" not in proven
            if turn in cut_turns or unproven:
                cut.add(len(sentences))
            sentences.append(text)
    return sentences, cut


def _words_of(text: str) -> str:
    from workbench.speech.wer import normalize_words

    return " ".join(normalize_words(text))


def proven_played(sentences_by_turn: dict[int, list[str]], heard: Sequence[Any]) -> set[str]:
    """Of each turn's sentences, those the server's mark echoes prove played whole at the
    caller (`heard`: the call's `HeardRecord`s). A mark follows the end of every piece of agent
    audio, so a piece played to its end has an echo with progress 1.0; a sentence counts when
    its words lie within the turn's pieces played to their end. A reply still queued when the
    call ended, or dropped by the caller hanging up, was never heard: it is no test of the ear.
    Returned as `(turn, sentence index)` keys written "turn:index"."""
    played: dict[int, dict[int, str]] = {}
    for record in heard:
        if record.progress >= 1.0:
            played.setdefault(record.turn, {})[record.sentence_index] = record.text
    proven: set[str] = set()
    for turn, sentences in sentences_by_turn.items():
        pieces = played.get(turn, {})
        text = " " + " ".join(_words_of(pieces[i]) for i in sorted(pieces)) + " "
        for index, sentence in enumerate(sentences):
            words = _words_of(sentence)
            if words and f" {words} " in text:
                proven.add(f"{turn}:{index}")
    return proven


def run_caller_ear_bench(
    scenario_paths: Sequence[Path],
    *,
    agent: Path | None = None,
    concurrency: int = 2,
    vocabulary: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Serve `agent`, call it with each scenario, and score the caller's ear per sentence.

    `vocabulary`: words the tester gives the ear (None: the agent's own `vocabulary()`, what
    whoever deployed the agent knows its names to be)."""
    from workbench.engine.calls import CallRuntime
    from workbench.scenario.schema import load_scenario
    from workbench.telephony.caller.ear import accurate_transcriber
    from workbench.telephony.caller.scripted import run_scenario_call
    from workbench.telephony.server.config import ServerConfig
    from workbench.telephony.server.media_server import MediaStreamServer
    from workbench.telephony.server.serving import ServerThread

    runtime = CallRuntime()
    loaded_agent = runtime.agent(agent)
    runtime.stack(loaded_agent)
    words = tuple(loaded_agent.vocabulary() if vocabulary is None else vocabulary)
    events: list[tuple[str, Any]] = []
    settings = ServerConfig(
        host="127.0.0.1",
        port=0,
        crm=False,
        agent_path=agent,
        max_loop_lag_ms=0.0,
        max_turn_latency_ms=0.0,
    )
    thread = ServerThread(
        lambda: MediaStreamServer(
            settings, runtime=runtime, on_event=lambda call, e: events.append((call.call_sid, e))
        )
    )
    port = thread.start()
    url = f"ws://127.0.0.1:{port}/media"
    transcribe = accurate_transcriber(words)

    def one(path: Path) -> dict[str, Any]:
        scenario = load_scenario(path)
        result = run_scenario_call(url, scenario, transcribe=transcribe)
        sid = result.results.call_sid
        assert thread.server is not None
        summary = thread.server.wait_finished(sid, 30.0)  # (its last events land after the
        time.sleep(0.5)  # socket closes: a cut reply)
        heard_marks = summary.heard if summary is not None else None
        sentences, cut = spoken_sentences([e for s, e in list(events) if s == sid], heard_marks)
        heard = " ".join(turn.text for turn in result.heard)
        wers = sentence_wers(sentences, heard)
        whole = [w for i, w in enumerate(wers) if i not in cut]
        return {
            "scenario": scenario.name,
            "sentences": len(sentences),
            "within_limit": sum(w <= SENTENCE_WER_LIMIT for w in wers),
            "whole_sentences": len(whole),
            "whole_within_limit": sum(w <= SENTENCE_WER_LIMIT for w in whole),
            "error": result.error,
            "worst": sorted(
                ({"spoken": s, "wer": round(w, 3)} for s, w in zip(sentences, wers, strict=True)),
                key=lambda item: -item["wer"],
            )[:3],
            "heard": heard,
        }

    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        with ThreadPoolExecutor(max(1, concurrency)) as pool:
            calls = list(pool.map(one, scenario_paths))
    finally:
        thread.stop(drain_timeout_s=2.0)
    total = sum(c["sentences"] for c in calls)
    within = sum(c["within_limit"] for c in calls)
    whole = sum(c["whole_sentences"] for c in calls)
    whole_within = sum(c["whole_within_limit"] for c in calls)
    share = whole_within / whole if whole else 0.0
    misheard = [
        {"scenario": c["scenario"], **w} for c in calls for w in c["worst"] if w["wer"] > 0.10
    ]
    return {
        "bench": "caller-ear",
        "agent": str(loaded_agent.directory),
        "calls": len(calls),
        "failed_calls": [c["scenario"] for c in calls if c["error"]],
        # Sentences of replies no interruption cut (the figure), then every sentence.
        "whole_sentences": whole,
        "whole_sentences_wer_le_10pct": whole_within,
        "share_wer_le_10pct": round(share, 4),
        "all_sentences": total,
        "all_sentences_wer_le_10pct": within,
        "share_all_wer_le_10pct": round(within / total if total else 0.0, 4),
        "target_share": TARGET_SHARE,
        "holds": share >= TARGET_SHARE,
        "vocabulary": list(words),
        "concurrency": concurrency,
        "wall_s": round(time.perf_counter() - started, 1),
        "load_average": [round(x, 2) for x in (*load_before, *os.getloadavg())],
        "misheard_sentences": misheard,
        "per_call": calls,
    }
