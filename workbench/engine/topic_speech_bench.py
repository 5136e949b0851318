"""The speech part of `workbench bench agent`: topic accuracy on what each ear heard.

The text part classifies the agent's held-out utterances as written. Here each one is spoken
(`piper:joe`, the voice scripted callers use) through the telephone path a call uses — TTS →
μ-law 20 ms frames between 300 ms of line silence → decode → 8 → 16 kHz → VAD and recogniser,
clean network — and each ear (fast, accurate) hears it with the recognisers a call to the agent
gets (`SpeechStack`: the agent's domain language model, its lexicon's spoken forms and its
vocabulary in the final pass's prompt). What an ear heard is classified with
`agent.understand(text).topic`, as the session does.

Per ear: topic accuracy, its difference from the text accuracy on the same utterances (in
points), the utterances whose topic changed because of what was heard, and the WER of what
was heard. The target (issue 14): the accurate ear within 3 points of the text accuracy.

This module imports both the agent and speech code, so it lives in the engine (the agent
package stays free of speech).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from workbench.speech.bench import machine_info, padded_frames, recognise_frames
from workbench.speech.ears import EARS, TwoPassRecognizer
from workbench.speech.wer import corpus_wer
from workbench.yamlfile import read_yaml

log = logging.getLogger(__name__)

VOICE = "piper:joe"
TARGET_POINTS = 3.0  # the accurate ear's accuracy within this many points of the text's
QUICK_PER_TOPIC = 1  # --quick: the first held-out utterance of each topic


def load_heldout(agent_dir: Path) -> dict[str, list[str]]:
    """The agent's held-out utterances (topic → utterances); empty when it has none."""
    path = Path(agent_dir) / "heldout.yaml"
    if not path.is_file():
        return {}
    return read_yaml(path, "held-out lines", tree=False)[0] or {}


def _ears(agent: Any) -> dict[str, Any]:
    """Each ear as one recogniser over whole utterances, built as a call's is (`SpeechStack`)."""
    from workbench.engine.speech_stack import SpeechStack

    stack = SpeechStack(agent)
    # Two streaming recognisers: the ears must not share one's adaptation to the caller.
    return {
        "fast": stack.acquire_recognizer(),
        "accurate": TwoPassRecognizer(stack.acquire_recognizer(), stack.final_pass()),
    }


def _render(voice: str, sentences: Sequence[str]) -> list[bytes]:
    from workbench.speech.tts import TelephoneTTS, load_synthesizer

    # No lexicon: a scripted caller's voice reads its lines as written (SpeechStack.caller_tts).
    tts = TelephoneTTS(load_synthesizer(voice))
    return [tts.render(sentence) for sentence in sentences]


def _points(accuracy: float, text_accuracy: float) -> float:
    return round((accuracy - text_accuracy) * 100, 1)


def run_topic_speech_bench(
    agent_dir: Path,
    *,
    quick: bool = False,
    heldout: Mapping[str, Sequence[str]] | None = None,
    progress: Callable[[str], None] = log.info,
) -> dict[str, Any]:
    """Speak the held-out utterances (or `heldout`), hear them with each ear, classify them.

    Returns the `speech` object of `bench agent` (see the module docstring).
    """
    from workbench.agent import load_agent

    started = time.perf_counter()
    machine = machine_info()
    if heldout is None:
        heldout = load_heldout(agent_dir)
    per_topic = QUICK_PER_TOPIC if quick else None
    labelled = [(topic, u) for topic, us in heldout.items() for u in list(us)[:per_topic]]
    if not labelled:
        return {"utterances": 0, "skipped": f"no held-out utterances in {agent_dir}"}
    references = [u for _, u in labelled]

    agent = load_agent(agent_dir)
    text_topics = [agent.understand(u).topic for u in references]
    text_accuracy = sum(t == g for (t, _), g in zip(labelled, text_topics, strict=True)) / len(
        labelled
    )
    progress("loading both ears with the agent's vocabulary")
    ears = _ears(agent)
    progress(f"speaking {len(references)} held-out utterances with {VOICE}")
    audio = [padded_frames(ulaw) for ulaw in _render(VOICE, references)]

    per_ear: dict[str, Any] = {}
    accuracies: dict[str, float] = {}
    for ear in EARS:
        progress(f"hearing them with the {ear} ear")
        recognizer = ears[ear]
        heard = [recognise_frames(frames, recognizer) for frames in audio]
        heard_topics = [agent.understand(text).topic for text in heard]
        accuracy = sum(t == g for (t, _), g in zip(labelled, heard_topics, strict=True)) / len(
            labelled
        )
        changed = [
            {
                "topic": topic,  # the held-out label
                "reference": reference,
                "heard": text,
                "text_topic": text_topic,
                "heard_topic": heard_topic,
            }
            for (topic, reference), text, text_topic, heard_topic in zip(
                labelled, heard, text_topics, heard_topics, strict=True
            )
            if heard_topic != text_topic
        ]
        accuracies[ear] = accuracy
        per_ear[ear] = {
            "accuracy": round(accuracy, 4),
            "points_vs_text": _points(accuracy, text_accuracy),
            "wer": round(corpus_wer(zip(references, heard, strict=True)), 4),
            "topic_changed": changed,
        }

    accurate_gap = abs(accuracies["accurate"] - text_accuracy) * 100
    machine["load_average_1m_at_end"] = round(os.getloadavg()[0], 2)
    return {
        "voice": VOICE,
        "network": "clean",
        "quick": quick,
        "utterances": len(labelled),
        "text_accuracy": round(text_accuracy, 4),  # on these utterances, as written
        "ears": per_ear,
        "targets": {"accurate_points_vs_text_within": TARGET_POINTS},
        "checks": {"accurate_within_3_points_of_text": accurate_gap <= TARGET_POINTS},
        "machine": machine,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
