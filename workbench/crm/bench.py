"""`workbench bench crm`: deliver N synthetic calls to a faulty local org and count what arrived.

A local org starts with the given fault spec; N synthetic `CallRecord`s (each a VoiceCall, a
Case or a Lead, a Task and two platform events) are enqueued at once; delivery runs until the
outbox is drained or the time limit passes; then the org is queried (faults off) by
`Call_Id__c`. With `kill_worker`, delivery runs in a child process that is `kill -9`'d once a
third of the items are delivered, and a fresh child finishes the job. Delivery batches records
into sObject Collections requests; `per_record` sends one request per record instead.

Result keys: calls, expected, found, lost, duplicates (records), events (expected, found, lost,
duplicates — events are at-least-once), dead_letters (by cause), throughput (records/s over
the delivery phase), delay_p50_s / delay_p95_s (from enqueue to the call's last record
acknowledged; all calls are enqueued in one burst, so this includes queueing), wall_s, and
enqueue_ms_p50/p95 (redact + map + enqueue one call with its events: what a call pays; no
network).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from workbench.crm.call_record import CallEvent, CallRecord
from workbench.crm.delivery import Backoff, DeliveryWorker
from workbench.crm.mapping import build_call_items, build_event_item, load_mapping, validate_mapping
from workbench.crm.outbox import Outbox
from workbench.crm.sink import CrmSettings, describer, local_org_client, real_org_client
from workbench.stats import rounded_percentile

BENCH_BACKOFF = Backoff(base_s=0.05, cap_s=2.0)
_TOKEN_ENV = "WORKBENCH_BENCH_ORG_TOKEN"


def synthetic_call(n: int, rng: random.Random) -> tuple[CallRecord, list[CallEvent]]:
    """Call number `n`: a Case (even n) or a Lead (odd n), a Task and two events."""
    call_id = f"CA{rng.getrandbits(128):032x}"
    ended = datetime(2026, 11, 22, 9, 0, tzinfo=UTC) + timedelta(seconds=n)
    duration = rng.uniform(20, 300)
    if n % 2 == 0:
        action = {"object": "Case", "fields": {"Subject": f"Order {1000 + n} delayed"}}
        intent, disposition = "order_status", "escalated_to_human"
    else:
        action = {"object": "Lead", "fields": {"LastName": f"Caller {n}", "Company": "Bench Co"}}
        intent, disposition = "book_demo", "ai_resolved"
    record = CallRecord(
        call_id=call_id,
        from_number=f"+1415555{n % 10000:04d}",
        to_number="+18005550100",
        started_at=ended - timedelta(seconds=duration),
        ended_at=ended,
        duration_s=duration,
        intent=intent,
        intent_confidence=round(rng.uniform(0.5, 1.0), 2),
        disposition=disposition,
        transcript=[
            ("caller", "Hi, my card is 4111 1111 1111 1111"),
            ("agent", "Thanks, one moment."),
        ],
        summary=f"Synthetic call {n}",
        consent=n % 3 != 0,
        recording_url=f"https://recordings.example/{call_id}.wav",
        intended_actions=[action, {"object": "Task", "fields": {"Subject": "Follow up"}}],
    )
    events = [
        CallEvent(call_id, "intent_decided", {"intent": intent}, ended - timedelta(seconds=5)),
        CallEvent(call_id, "disposition", {"disposition": disposition}, ended),
    ]
    return record, events


def run_crm_bench(
    calls: int = 1000,
    faults: str = "transient=0.2",
    kill_worker: bool = False,
    *,
    seed: int = 0,
    concurrency: int = 4,
    time_limit_s: float = 600.0,
    per_record: bool = False,
    work_dir: Path | None = None,
) -> dict[str, Any]:
    """Run the bench (see the module docstring) and return its JSON-able result."""
    from workbench.crm.org import LocalOrg

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as tmp:
        base = Path(work_dir or tmp)
        org = LocalOrg(host="127.0.0.1", db_path=base / "org.sqlite", seed_demo_data=False)
        org.start()
        try:
            mapping = validate_mapping(load_mapping(), describer(local_org_client(org)))
            outbox = Outbox(base / "outbox.sqlite", lease_s=30.0)
            expected: dict[str, set[str]] = {
                "VoiceCall": set(),
                "Case": set(),
                "Lead": set(),
                "Task": set(),
            }
            event_ids: set[str] = set()
            enqueue_ms: list[float] = []
            for n in range(calls):
                record, events = synthetic_call(n, rng)
                t0 = time.perf_counter()
                items = build_call_items(record, mapping)
                for item in items:
                    expected[item.object].add(str(item.ext_value))
                outbox.enqueue(record.call_id, items)
                for event in events:
                    outbox.enqueue(event.call_id, [build_event_item(event, mapping)])
                    event_ids.add(event.event_id)
                enqueue_ms.append((time.perf_counter() - t0) * 1000)
            org.set_faults(faults)
            started = time.time()
            if kill_worker:
                kill_info = _deliver_with_kill(
                    outbox, org, concurrency, seed, time_limit_s, per_record
                )
            else:
                worker = DeliveryWorker(
                    outbox,
                    lambda: local_org_client(org),
                    concurrency=concurrency,
                    backoff=Backoff(BENCH_BACKOFF.base_s, BENCH_BACKOFF.cap_s, seed),
                    use_collections=not per_record,
                )
                worker.start()
                _wait_drained(outbox, started + time_limit_s)
                worker.stop()
                kill_info = {}
            finished = time.time()
            org.set_faults("")
            result = _verify(org, outbox, expected, event_ids, started, finished)
            enqueue_ms.sort()
            result.update(
                calls=calls,
                faults=faults,
                kill_worker=kill_worker,
                per_record=per_record,
                enqueue_ms_p50=_nearest_rank(enqueue_ms, 50, 2),
                enqueue_ms_p95=_nearest_rank(enqueue_ms, 95, 2),
                **kill_info,
            )
            outbox.close()
            return result
        finally:
            org.stop()


def _wait_drained(outbox: Outbox, deadline: float) -> None:
    while time.time() < deadline:
        counts = outbox.status().counts
        if counts["pending"] == 0 and counts["in_flight"] == 0:
            return
        time.sleep(0.1)


def _deliver_with_kill(
    outbox: Outbox, org: Any, concurrency: int, seed: int, time_limit_s: float, per_record: bool
) -> dict[str, Any]:
    total = sum(outbox.status().counts.values())
    deadline = time.time() + time_limit_s
    env = {**os.environ, _TOKEN_ENV: org.token}
    command = [
        sys.executable, "-m", "workbench.crm.bench", str(outbox.path), org.instance_url,
        str(concurrency), str(seed), str(time_limit_s), "1" if per_record else "0",
    ]  # fmt: skip
    child = subprocess.Popen(command, env=env)
    killed_at = 0
    in_flight_at_kill = 0
    while time.time() < deadline and child.poll() is None:
        delivered = outbox.status().counts["delivered"]
        if delivered >= total // 3:
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            killed_at = delivered
            in_flight_at_kill = outbox.status().counts["in_flight"]
            break
        time.sleep(0.02)
    restarted = subprocess.Popen(command, env=env)
    try:
        restarted.wait(timeout=max(1.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
        restarted.kill()
        restarted.wait()
    return {"killed_after_delivered": killed_at, "in_flight_at_kill": in_flight_at_kill}


def _verify(
    org: Any,
    outbox: Outbox,
    expected: dict[str, set[str]],
    event_ids: set[str],
    started: float,
    finished: float,
) -> dict[str, Any]:
    sf = local_org_client(org)
    found_total = lost = duplicates = 0
    for obj, keys in expected.items():
        if not keys:
            continue
        rows = sf.query_all(f"SELECT Call_Id__c FROM {obj} WHERE Call_Id__c != null")["records"]
        counts = Counter(row["Call_Id__c"] for row in rows)
        found_total += sum(1 for key in keys if counts[key] > 0)
        lost += sum(1 for key in keys if counts[key] == 0)
        duplicates += sum(counts[key] - 1 for key in keys if counts[key] > 1)
    published: Counter[str] = Counter()
    after = 0
    while page := org.published_events(after):  # paged (the org returns up to 1,000 at a time)
        for event in page:
            payload = json.loads(event["payload"].get("Payload__c") or "{}")
            published[payload.get("event_id")] += 1
        after = page[-1]["replayId"]
    items = outbox.items()
    per_call: dict[str, list[float]] = {}
    delivered_records = 0
    for item in items:
        if item.state != "delivered" or item.delivered_at is None:
            continue
        if item.kind == "upsert":
            delivered_records += 1
        per_call.setdefault(item.call_id, []).append(item.delivered_at - item.enqueued_at)
    delays = sorted(max(d) for d in per_call.values())
    status = outbox.status()
    elapsed = max(finished - started, 1e-9)
    return {
        "expected": sum(len(k) for k in expected.values()),
        "found": found_total,
        "lost": lost,
        "duplicates": duplicates,
        "events": {
            "expected": len(event_ids),
            "found": sum(1 for e in event_ids if published[e]),
            "lost": sum(1 for e in event_ids if not published[e]),
            "duplicates": sum(published[e] - 1 for e in event_ids if published[e] > 1),
        },
        "dead_letters": status.dead_by_cause,
        "outbox": status.counts,
        "throughput": round(delivered_records / elapsed, 1),
        "delay_p50_s": _nearest_rank(delays, 50, 3),
        "delay_p95_s": _nearest_rank(delays, 95, 3),
        "wall_s": round(elapsed, 2),
    }


def _nearest_rank(values: list[float], q: float, digits: int) -> float:
    """A nearest-rank percentile (an observed delay); 0 when nothing was measured."""
    return rounded_percentile(values, q, digits, method="nearest_rank") or 0.0


def _child_main(argv: list[str]) -> None:
    """Delivery in a child process (the one `--kill-worker` kills)."""
    outbox_path, instance_url, concurrency, seed, time_limit, per_record = argv
    settings = CrmSettings(instance_url=instance_url, session_id=os.environ[_TOKEN_ENV])
    worker = DeliveryWorker(
        Outbox(outbox_path, lease_s=30.0),
        lambda: real_org_client(settings),
        concurrency=int(concurrency),
        backoff=Backoff(BENCH_BACKOFF.base_s, BENCH_BACKOFF.cap_s, int(seed) + os.getpid()),
        use_collections=per_record != "1",
    )
    worker.start()
    _wait_drained(worker.outbox, time.time() + float(time_limit))
    worker.stop()


if __name__ == "__main__":
    _child_main(sys.argv[1:])
