"""A served call gets the same scorecard as any other (`engine.scorecard`): counted on /metrics,
appended to the call log, and sent as one OTLP trace whose turn lanes add up to the turn."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from support.otlp_receiver import attributes, otlp_receiver

from workbench.engine import events as ev
from workbench.engine.scorecard import CALL_LOG_FIELDS, resolution_of
from workbench.telephony.bench import scorecard_coverage
from workbench.telephony.caller.client import MediaStreamClient
from workbench.telephony.caller.pacer import Pacer

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_a_served_call_is_scored_logged_counted_and_traced(live_server, runtime, monkeypatch):
    with otlp_receiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        tts = runtime.stack(runtime.agent()).caller_tts("piper:joe")
        client = MediaStreamClient(live_server.media_url, caller_number="+14155550123")
        client.connect()
        pacer = Pacer([client]).start()
        try:
            assert client.wait_for_agent_quiet(500, 20)
            client.send_audio(tts.render_pcm("What are your opening hours?", 8000))
            assert client.wait_for_agent_audio(20)
            echoed = client.results.marks_echoed
            assert client.wait_until(lambda: client.results.marks_echoed >= echoed + 2, 10)
        finally:
            client.hang_up()
            pacer.stop()
        sid = client.call_sid
        live_server.wait_finished(sid)
        server = live_server.server

        card = server.scorecards[sid]
        assert [(t.topic, t.success) for t in card.topics] == [("OpeningHours", True)]
        assert card.turns == 1 and card.latency_ms["turns"] == 1
        # The one disposition rule: the CRM record and the scorecard agree.
        assert live_server.crm.wait_for(lambda rs: any(r.call_id == sid for r in rs))
        record = next(r for r in live_server.crm.records if r.call_id == sid)
        assert card.resolution == resolution_of(record.disposition)

        logged = [json.loads(line) for line in server.call_log_path.read_text().splitlines()]
        mine = [line for line in logged if line["scorecard"]["call_id"] == sid]
        assert len(mine) == 1 and mine[0]["format"] == "workbench-call/1"
        assert tuple(mine[0]) == CALL_LOG_FIELDS
        assert mine[0]["scorecard"]["topics"][0]["topic"] == "OpeningHours"

        metrics = urllib.request.urlopen(f"{live_server.http}/metrics", timeout=10).read().decode()
        assert (
            f'workbench_call_resolutions_total{{resolution="{card.resolution}",'
            'topic="OpeningHours"}' in metrics
        )
        assert 'workbench_topic_tasks_total{success="true",topic="OpeningHours"}' in metrics
        # What `bench serve` reports as its scorecard coverage, read from the same /metrics.
        coverage = scorecard_coverage(int(live_server.http.rsplit(":", 1)[1].split("/")[0]))
        assert coverage is not None and coverage["calls_scored"] >= 1

        def my_spans():
            return [s for _, s in receiver.spans() if attributes(s).get("callSid") == sid]

        deadline = time.monotonic() + 20
        while not my_spans() and time.monotonic() < deadline:
            time.sleep(0.1)
        spans = my_spans()
        assert len({s.trace_id for s in spans}) == 1  # one trace for the call
        timeline = next(
            e.timeline
            for e in live_server.events_of(sid)
            if isinstance(e, ev.TurnCompleted) and e.turn == 1
        )
        (turn,) = [s for s in spans if s.name == "turn 1"]
        assert attributes(turn)["topic"] == "OpeningHours"
        lanes = [
            s
            for s in spans
            if s.parent_span_id == turn.span_id and attributes(s)["workbench.span_kind"] == "lane"
        ]
        lane_ms = sum(s.end_time_unix_nano - s.start_time_unix_nano for s in lanes) / 1e6
        turn_ms = (turn.end_time_unix_nano - turn.start_time_unix_nano) / 1e6
        assert lane_ms == pytest.approx(turn_ms, abs=0.001)
        assert turn_ms == pytest.approx(timeline.total_ms, abs=0.001)
