"""`workbench bench protocol`: CPU per Media Streams message, read and written.

The codec runs once per 20 ms frame in each direction of every call, on the server's one
event loop per process, so its cost per message bounds how many calls a core carries. Each
figure is the best of several timed rounds (the least disturbed by other work on the
machine), in µs per message, beside `json.loads` of the same frame as a yardstick: the ratio
to it varies much less with the machine's load than the µs do.

Apart from the codec because it is a measurement, not part of any call.
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from typing import Any

from workbench.telephony import protocol as p

STREAM_SID = "MZ" + "0123456789abcdef" * 2
CALL_SID = "CA" + "fedcba9876543210" * 2
ACCOUNT_SID = "AC" + "0" * 32
FRAME = bytes(range(96, 256))  # 160 μ-law bytes: one 20 ms frame


def _best_us(
    operation: Callable[[], object], yardstick: Callable[[], object], number: int, rounds: int
) -> tuple[float, float]:
    """The fastest round's µs per call of `operation` and of `yardstick`, timed in turns so
    both meet the same load on the machine."""
    best = [float("inf"), float("inf")]
    for _ in range(rounds):
        for index, function in enumerate((operation, yardstick)):
            start = time.perf_counter()
            for _ in range(number):
                function()
            best[index] = min(best[index], time.perf_counter() - start)
    return best[0] / number * 1e6, best[1] / number * 1e6


def run_protocol_bench(messages: int = 20_000, rounds: int = 5) -> dict[str, Any]:
    """µs per message for what each side of a call does per frame, and for the rarer ones."""
    inbound_media = p.encode_message(p.Media(12, STREAM_SID, "inbound", 11, 220, FRAME))
    outbound_media = p.encode_message(p.OutboundMedia(STREAM_SID, FRAME))
    start = p.encode_message(
        p.Start(1, STREAM_SID, ACCOUNT_SID, CALL_SID, custom_parameters={"caller": "+15550100"})
    )
    mark_echo = p.encode_message(p.Mark(40, STREAM_SID, "t3-s1-p2400-speech-17"))
    cases: dict[str, tuple[str, Callable[[], object]]] = {
        # The server reads the caller's audio (tolerantly) and writes the agent's.
        "server_reads_media": (inbound_media, lambda: p.parse_inbound(inbound_media)),
        "server_writes_media": (
            outbound_media,
            lambda: p.encode_message(p.OutboundMedia(STREAM_SID, FRAME)),
        ),
        # The Twilio-side client writes the caller's audio and judges the agent's strictly.
        "client_reads_media": (outbound_media, lambda: p.parse_message(outbound_media)),
        "client_writes_media": (
            inbound_media,
            lambda: p.encode_message(p.Media(12, STREAM_SID, "inbound", 11, 220, FRAME)),
        ),
        "server_reads_mark": (mark_echo, lambda: p.parse_inbound(mark_echo)),
        "server_reads_start": (start, lambda: p.parse_inbound(start)),
    }
    results: dict[str, Any] = {}
    for name, (frame, operation) in cases.items():
        codec_us, json_us = _best_us(
            operation, lambda frame=frame: json.loads(frame), messages, rounds
        )
        results[name] = {
            "us_per_message": round(codec_us, 2),
            "json_loads_us": round(json_us, 2),
            "ratio_to_json_loads": round(codec_us / json_us, 2),
            "frame_chars": len(frame),
        }
    return {
        "bench": "protocol",
        "messages_per_round": messages,
        "rounds": rounds,
        "cases": results,
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
    }
