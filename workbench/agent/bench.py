"""`workbench bench agent`: what loading and understanding cost, and how accurate topics are."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from workbench.stats import percentile
from workbench.yamlfile import read_yaml


def run_agent_benchmark(directory: Path, repeat: int = 200) -> dict:
    """Load the agent (imports timed apart) and measure it."""
    started = time.perf_counter()
    from workbench.agent.agent import load_agent
    from workbench.agent.understanding import import_sklearn

    import_sklearn()
    import_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    agent = load_agent(directory)
    load_ms = (time.perf_counter() - started) * 1000

    heldout_path = Path(directory) / "heldout.yaml"
    heldout = (
        read_yaml(heldout_path, "held-out lines", tree=False)[0] if heldout_path.is_file() else {}
    )
    utterances = [u for us in heldout.values() for u in us] or [
        e for t in agent.definition.topics for e in t.examples
    ]
    correct = sum(agent.understand(u).topic == topic for topic, us in heldout.items() for u in us)

    understand_ms: list[float] = []
    agent.understand(utterances[0])  # warm-up: first-call allocations are not per-utterance cost
    retrieve_ms: list[float] = []
    for i in range(repeat):
        text = utterances[i % len(utterances)]
        t0 = time.perf_counter()
        agent.understand(text)
        t1 = time.perf_counter()
        agent.retrieve(text)
        t2 = time.perf_counter()
        understand_ms.append((t1 - t0) * 1000)
        retrieve_ms.append((t2 - t1) * 1000)
    return {
        "agent": agent.name,
        "import_ms": round(import_ms, 1),  # one-off per process (pydantic, scikit-learn)
        "load_ms": round(load_ms, 1),  # load_agent: parse, validate, train, index
        "classifier_train_ms": round(agent.train_seconds * 1000, 1),
        "classifier_train_cpu_ms": round(agent.train_cpu_seconds * 1000, 1),
        "examples": sum(len(t.examples) for t in agent.definition.topics)
        + len(agent.definition.understanding.unknown_examples),
        "cv5_accuracy": round(agent.classifier.cv_accuracy, 4),
        "heldout_accuracy": round(correct / len(utterances), 4) if heldout else None,
        "heldout_utterances": len(utterances) if heldout else 0,
        "temperature": round(agent.classifier.temperature, 2),
        "understand_ms": {
            "p50": round(statistics.median(understand_ms), 3),
            "p95": round(percentile(understand_ms, 95, method="nearest_rank"), 3),
        },
        "retrieve_ms": {
            "p50": round(statistics.median(retrieve_ms), 3),
            "p95": round(percentile(retrieve_ms, 95, method="nearest_rank"), 3),
        },
        "knowledge_chunks": len(agent.knowledge.chunks),
    }
