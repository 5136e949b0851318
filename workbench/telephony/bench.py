"""`workbench bench serve`: N concurrent scripted calls against a real server on loopback.

The server runs in a subprocess (`python -m workbench serve --no-crm --workers W`) with the real
speech stack, so its CPU time and memory can be read from /proc (summed over the server and its
worker processes) without the callers' own work mixed in. Callers use `MediaStreamClient` on one shared `Pacer` with
pre-rendered audio; each caller thread places call after call until the duration is over.

Arrivals: `stagger_s` spreads the callers' first calls evenly over that many seconds (about one
call's length; `workbench bench serve` uses 20 s), so their talk falls at unrelated moments, as
real traffic does; each caller then keeps its offset, call after call. Only calls placed after
the ramp are measured, so its light load does not flatter the figures. With 0 every caller
starts at once and says the same lines, so the calls talk in step: the worst case for a server
whose per-frame speech work comes in bursts.

Reports caller-side turn latency percentiles, barge-in stop latency (when barge-in calls are
mixed in), errors, server CPU (cores used; per concurrent call) and memory (RSS; per call), and,
in soak mode, the RSS slope over time. Measures that did not apply (a barge-in that found the
agent silent) are counted by reason under `not_applicable`, never as numbers.

Overload mode (`--max-calls M --overload F`): the server admits M calls (`serve --max-calls`)
and F × M caller lines dial it. A refused call (503 before any audio) is a result of its own —
`refused`, apart from errors — and its line redials 1-3 s later, as a caller hearing a busy
signal would; the admitted calls' latency is judged as usual, with the turns that got no reply
and the calls that got no greeting counted. The server's own count of refusals (`/metrics`) is
reported beside the callers'.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.stats import rounded_percentile
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer
from workbench.telephony.caller.results import NOT_APPLICABLE_OVERLAP
from workbench.telephony.caller.scripted import CallStep, run_steps
from workbench.telephony.server.process import ServerProcess

log = logging.getLogger(__name__)

DEFAULT_LINES = ("What are your opening hours?", "What payment options do you have?")
BARGE_LINE = "Sorry, can I ask something else?"
CLK_TCK = os.sysconf("SC_CLK_TCK")
REDIAL_S = (1.0, 3.0)  # a refused caller dials again after this long (uniform)


@dataclass
class ProcSample:
    t: float
    cpu_s: float
    rss_mb: float


def process_tree(pid: int) -> list[int]:
    """The process and its descendants (a multi-worker server's workers), from /proc."""
    pids = [pid]
    for parent in pids:
        try:
            children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
        except OSError:
            continue
        pids.extend(int(child) for child in children)
    return pids


def sample_process(pid: int) -> ProcSample:
    """CPU seconds (user + system) and resident memory of a process and its descendants (what
    they use now: a descendant that exited takes its CPU time with it), from /proc."""
    cpu_s = 0.0
    rss_kb = 0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
            status = Path(f"/proc/{member}/status").read_text()
        except OSError:  # it just exited
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        cpu_s += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                rss_kb += int(line.split()[1])
    return ProcSample(time.monotonic(), cpu_s, rss_kb / 1024.0)


@dataclass
class BenchState:
    results: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def run_serve_bench(
    *,
    calls: int,
    duration_s: float,
    soak_minutes: float = 0.0,
    agent: Path | None = None,
    voice: str = "piper:joe",
    lines: tuple[str, ...] = DEFAULT_LINES,
    barge_in_every: int = 0,
    workers: int = 1,
    stagger_s: float = 0.0,
    ear: str | None = None,
    max_calls: int | None = None,
    overload: float = 0.0,
    max_loop_lag_ms: float | None = None,
    max_turn_latency_ms: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Drive `calls` concurrent calls for `duration_s` (or `soak_minutes`, after a ramp of
    `stagger_s`) against a server with `workers` processes listening with `ear` (None: the
    server's default), and summarise. `max_calls`: the server's admission limit per process
    (default: enough for `calls`); `overload` > 0: dial `overload` × the server's capacity
    lines instead of `calls`."""
    if max_calls is not None and max_calls < 1:
        raise ConfigError("--max-calls must be at least 1")
    if overload < 0:
        raise ConfigError("--overload must be a positive multiple of the server's capacity")
    calls, max_calls = offered_load(calls, max_calls, overload, workers)
    if stagger_s < 0:
        raise ConfigError("--stagger must be zero (calls in step) or a number of seconds")
    from workbench.telephony.caller.scripted import scenario_renderer

    say = progress or (lambda text: None)
    render = scenario_renderer(voice)
    steps = [CallStep("say", text=line, pcm=render(line)) for line in lines]
    barge_pcm = render(BARGE_LINE)
    extra = (
        *("--workers", str(workers)),
        *(("--ear", ear) if ear else ()),
        *(("--max-calls", str(max_calls)) if max_calls else ()),
        *(("--max-loop-lag-ms", f"{max_loop_lag_ms:g}") if max_loop_lag_ms is not None else ()),
        *(
            ("--max-turn-latency-ms", f"{max_turn_latency_ms:g}")
            if max_turn_latency_ms is not None
            else ()
        ),
    )
    # (The bench's callers do not sign: a TWILIO_AUTH_TOKEN in this environment stays out.)
    server = ServerProcess(agent=agent, crm=False, extra=extra, env={"TWILIO_AUTH_TOKEN": ""})
    say("starting the server…")
    server.start()
    assert server.process is not None
    pid = server.process.pid
    try:
        served_ear = server_ear(server.port)
        baseline = sample_process(pid)
        run_s = soak_minutes * 60.0 if soak_minutes > 0 else duration_s
        state = BenchState()
        samples: list[ProcSample] = [baseline]
        pacer = Pacer().start()
        started = time.monotonic()
        deadline = started + stagger_s + run_s
        counter = iter(range(10**9))

        offsets = caller_start_offsets(calls, stagger_s)

        def caller_loop(slot: int) -> None:
            import random

            rng = random.Random(slot)
            time.sleep(offsets[slot])
            while time.monotonic() < deadline:
                placed_s = time.monotonic() - started
                n = next(counter)
                client = MediaStreamClient(server.url, caller_number=f"+1415555{slot:04d}")
                barge = barge_in_every > 0 and n % barge_in_every == barge_in_every - 1
                if barge:
                    outcome = _barge_call(client, barge_pcm, pacer)
                else:
                    outcome = run_steps(client, steps, pacer=pacer, wait_for_last_reply=False)
                    outcome = outcome.as_dict()
                outcome["placed_s"] = placed_s
                outcome["barge"] = barge
                with state.lock:
                    state.results.append(outcome)
                if outcome.get("refused"):  # a busy line: dial again a little later
                    time.sleep(rng.uniform(*REDIAL_S))

        threads = [
            threading.Thread(target=caller_loop, args=(i,), daemon=True) for i in range(calls)
        ]
        for thread in threads:
            thread.start()
        ramp = f" after a {stagger_s:g}-s ramp" if stagger_s else " in step"
        say(f"{calls} concurrent calls for {run_s:g} s{ramp}…")
        while True:
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                break
            alive[0].join(5.0)  # wakes at least every 5 s to sample the server
            samples.append(sample_process(pid))
        pacer.stop()
        final = sample_process(pid)
        samples.append(final)
        refused_by_server = server_refusals(server.port)
        scored = scorecard_coverage(server.port)
    finally:
        server.stop()
    measured = placed_after_ramp(state.results, stagger_s)
    admitted = [r for r in measured if not r.get("refused")]
    refused = [r for r in measured if r.get("refused")]
    concurrency = min(calls, (max_calls or calls) * workers) if overload > 0 else calls
    result = summarise(admitted, samples, baseline, final, concurrency, soak=soak_minutes > 0)
    result["offered"] = {
        "caller_lines": calls,
        "overload": overload or None,
        "max_calls_per_process": max_calls,
        "max_loop_lag_ms": max_loop_lag_ms,
        "max_turn_latency_ms": max_turn_latency_ms,
        "calls_placed": len(measured),
        "calls_admitted": len(admitted),
        "calls_refused": len(refused),
        "refused_by_status": _count(str(r.get("refused_status")) for r in refused),
        "refused_all_run_server_count": refused_by_server,
        "refused_all_run_callers_count": sum(1 for r in state.results if r.get("refused")),
    }
    result["arrivals"] = {
        "mode": "staggered" if stagger_s else "in step",
        "stagger_s": stagger_s,
        "ramp_calls_not_measured": len(state.results) - len(measured),
    }
    result["server"]["workers"] = workers
    result["scorecards"] = scored
    result["ear"] = served_ear
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def server_ear(port: int) -> str:
    """The ear the server says its calls listen with (`GET /healthz`)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5.0) as response:
        return str(json.loads(response.read()).get("ear", "?"))


def offered_load(
    calls: int, max_calls: int | None, overload: float, workers: int
) -> tuple[int, int | None]:
    """(caller lines, the server's `--max-calls`) of a run. Overload: `overload` × capacity
    lines against the given limit (or the server's default). A capacity run measures the calls
    it was asked for, so the server's default limit must not refuse some of them: the limit
    is lifted to the calls, plus a margin for a call ending while its line's next one starts."""
    if overload > 0:
        from workbench.telephony.server.config import default_max_calls

        capacity = (max_calls or default_max_calls(workers)) * workers
        calls = max(1, round(overload * capacity))
    if calls < 1:
        raise ConfigError("--calls must be at least 1")
    if overload == 0 and max_calls is None:
        max_calls = calls + 4
    return calls, max_calls


def caller_start_offsets(calls: int, stagger_s: float) -> list[float]:
    """When each caller places its first call: evenly over the ramp (all at 0 when in step)."""
    return [slot * stagger_s / calls for slot in range(calls)]


def placed_after_ramp(results: list[dict[str, Any]], stagger_s: float) -> list[dict[str, Any]]:
    """The calls placed once every caller is on the line: the steady load that is judged."""
    return [r for r in results if r["placed_s"] >= stagger_s]


def server_counters(port: int, *names: str) -> dict[str, int] | None:
    """The server's own counters from `/metrics`, each summed over its labels (None when the
    server does not answer)."""
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10.0) as response:
            text = response.read().decode("utf-8")
    except OSError:
        return None
    totals = dict.fromkeys(names, 0.0)
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in totals:
            totals[name] += float(line.rsplit(" ", 1)[1])
    return {name: int(total) for name, total in totals.items()}


def server_refusals(port: int) -> int | None:
    """The server's own count of refused calls (`workbench_calls_refused_total`, all routes)."""
    counters = server_counters(port, "workbench_calls_refused_total")
    return None if counters is None else counters["workbench_calls_refused_total"]


def scorecard_coverage(port: int) -> dict[str, Any] | None:
    """How many of the calls the server finished it scored (issue 19: 100 % of calls):
    `workbench_calls_total` (finished) against `workbench_call_resolutions_total` (scored)."""
    counters = server_counters(port, "workbench_calls_total", "workbench_call_resolutions_total")
    if counters is None:
        return None
    finished = counters["workbench_calls_total"]
    scored = counters["workbench_call_resolutions_total"]
    return {
        "calls_finished": finished,
        "calls_scored": scored,
        "share": round(scored / finished, 4) if finished else None,
    }


def _count(items: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for item in items:
        counts[item] = counts.get(item, 0) + 1
    return counts


def _barge_call(client: MediaStreamClient, pcm: np.ndarray, pacer: Pacer) -> dict[str, Any]:
    """A call whose caller talks over the greeting (measures barge-in stop latency)."""
    try:
        client.connect()
        pacer.add(client)
        client.wait_until(lambda: client.results.first_agent_audio_ms is not None, 15.0)
        client.wait_until(lambda: client.closed.is_set(), 0.8)  # into the greeting
        client.send_audio(pcm)
        client.wait_sent(10.0)
        client.wait_for_agent_quiet(700.0, 12.0)
        error = ""
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        pacer.remove(client)
        client.hang_up()
    data = client.results.as_dict()
    data.update(completed=not error, error=error, said=[BARGE_LINE])
    return data


def summarise(
    results: list[dict[str, Any]],
    samples: list[ProcSample],
    baseline: ProcSample,
    final: ProcSample,
    concurrency: int,
    *,
    soak: bool,
) -> dict[str, Any]:
    latencies = [v for r in results for v in r["turn_latencies_ms"]]
    barge = [v for r in results for v in r["barge_in_stop_ms"]]
    not_applicable: dict[str, int] = {}
    for r in results:
        for reason, n in r.get("not_applicable", {}).items():
            not_applicable[reason] = not_applicable.get(reason, 0) + n
    no_greeting = sum(1 for r in results if r["first_agent_audio_ms"] is None)
    # A line said in a plain call and answered by nothing (barge-in calls stop the agent on
    # purpose; a turn whose caller stopped while the agent still talked has no reply to wait
    # for and is counted apart, under not_applicable).
    no_reply = sum(
        max(
            0,
            len(r.get("said", []))
            - len(r["turn_latencies_ms"])
            - r.get("not_applicable", {}).get(NOT_APPLICABLE_OVERLAP, 0),
        )
        for r in results
        if not r.get("barge")
    )
    errors: dict[str, int] = {}
    for r in results:
        cause = r["error"] or (
            "protocol: " + r["protocol_errors"][0] if r["protocol_errors"] else ""
        )
        if not cause and r["closed_by_server"] and not r["turn_latencies_ms"]:
            cause = "closed by server before replying"
        if cause:
            errors[cause[:80]] = errors.get(cause[:80], 0) + 1
    wall = max(final.t - baseline.t, 1e-9)
    cores = (final.cpu_s - baseline.cpu_s) / wall
    peak = max(s.rss_mb for s in samples)
    out: dict[str, Any] = {
        "concurrent_calls": concurrency,
        "calls_completed": sum(1 for r in results if r["completed"]),
        "calls_total": len(results),
        "turns_measured": len(latencies),
        "turn_latency_ms": {
            "p50": rounded_percentile(latencies, 50),
            "p95": rounded_percentile(latencies, 95),
            "p99": rounded_percentile(latencies, 99),
            "max": round(max(latencies), 1) if latencies else None,
        },
        "first_agent_audio_ms_p50": rounded_percentile(
            [r["first_agent_audio_ms"] for r in results if r["first_agent_audio_ms"]], 50
        ),
        "barge_in_stop_ms": {"count": len(barge), "p95": rounded_percentile(barge, 95)},
        "not_applicable": not_applicable,
        "no_greeting": no_greeting,
        "no_reply": no_reply,
        "errors": errors,
        "caller_late_ticks": sum(r["late_sends"] for r in results),
        "caller_worst_lateness_ms": round(
            max((r["worst_lateness_ms"] for r in results), default=0.0), 1
        ),
        "server": {
            "cpu_cores_used": round(cores, 3),
            "cpu_cores_per_call": round(cores / concurrency, 4),
            "rss_baseline_mb": round(baseline.rss_mb, 1),
            "rss_peak_mb": round(peak, 1),
            "rss_per_call_mb": round((peak - baseline.rss_mb) / concurrency, 2),
        },
        "machine_cores": os.cpu_count(),
    }
    out["turn_latency_ms"]["over_2000_ms"] = sum(1 for v in latencies if v > 2000.0)
    if soak and len(samples) >= 3:
        t = np.array([s.t - samples[0].t for s in samples[1:]]) / 60.0
        rss = np.array([s.rss_mb for s in samples[1:]])
        # The first minute (or third) is warm-up: recogniser pool and caches fill once.
        steady = t >= min(1.0, t[-1] / 3.0)
        out["soak"] = {
            "minutes": round(float(t[-1]), 2),
            "rss_slope_mb_per_min": _slope(t[steady], rss[steady]),
            "rss_slope_with_warmup_mb_per_min": _slope(t, rss),
            # Pools and caches fill until a worker has held its peak number of calls: the
            # second half says whether memory still grows once that is past.
            "rss_slope_last_half_mb_per_min": _slope(t[t >= t[-1] / 2], rss[t >= t[-1] / 2]),
            "rss_samples_mb": [round(float(v), 1) for v in rss[:: max(1, len(rss) // 20)]],
        }
    return out


def _slope(t: np.ndarray, values: np.ndarray) -> float | None:
    if len(t) < 2 or np.ptp(t) == 0:
        return None
    return round(float(np.polyfit(t, values, 1)[0]), 3)


def dumps(result: dict[str, Any]) -> str:
    return json.dumps(result, indent=2)
