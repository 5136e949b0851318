"""Telephony commands: `serve`, `call`, `desk`, `bench serve`, `bench protocol`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer

from workbench.speech.ears import EAR_HELP, check_ear


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Annotated[str, typer.Option(help="Address to bind (off loopback needs --token).")] = (
            "127.0.0.1"
        ),
        port: Annotated[int, typer.Option(help="TCP port.")] = 8080,
        agent: Annotated[
            Path | None, typer.Option(help="Agent directory (default: the demo agent).")
        ] = None,
        token: Annotated[
            str | None, typer.Option(help="Shared secret callers and agent clients must present.")
        ] = None,
        crm: Annotated[
            bool, typer.Option("--crm/--no-crm", help="Look callers up and write calls to the CRM.")
        ] = True,
        public_url: Annotated[
            str | None, typer.Option(help="Public wss:// base URL for TwiML (behind a proxy).")
        ] = None,
        drain_timeout: Annotated[
            float, typer.Option(help="Seconds active calls may take to finish on shutdown.")
        ] = 30.0,
        workers: Annotated[
            str,
            typer.Option(
                help="Server processes sharing the port: a number, or 'auto' (one per core). "
                "A desk on /agent sees every worker's waiting calls."
            ),
        ] = "1",
        verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log each call.")] = False,
        ear: Annotated[
            str | None, typer.Option("--ear", help=EAR_HELP + " Default: fast (capacity).")
        ] = None,
        max_calls: Annotated[
            int | None,
            typer.Option(
                help="Calls each server process takes at once; beyond it calls are refused "
                "(busy TwiML, 503 on /media). Default: 6 per core the process gets; measure "
                "yours with 'workbench bench serve --overload 2 --max-calls N'."
            ),
        ] = None,
        max_loop_lag_ms: Annotated[
            float,
            typer.Option(
                help="Also refuse new calls while the event loop ran this many ms late in the "
                "last second (the process is short of CPU); 0: off."
            ),
        ] = 300.0,
        max_turn_latency_ms: Annotated[
            float,
            typer.Option(
                help="Also refuse new calls while the replies heard in the last 10 s took longer "
                "than this (p90, server-side: the caller's end of speech to the first audio "
                "heard); 0: off."
            ),
        ] = 1500.0,
        when_full: Annotated[
            str,
            typer.Option(
                help="What POST /twiml answers at capacity: busy (busy signal), reject, or "
                "message (says the line is busy, hangs up)."
            ),
        ] = "busy",
        twilio_auth_token: Annotated[
            str | None,
            typer.Option(
                envvar="TWILIO_AUTH_TOKEN",
                show_envvar=True,
                help="Your Twilio account's auth token: /twiml and /media then require a valid "
                "X-Twilio-Signature (or --token, for peers that are not Twilio).",
            ),
        ] = None,
        interruption: Annotated[
            str | None,
            typer.Option(
                help="When the caller speaks over the agent: pause (clear at once, keep the "
                "rest, resume from the cut word or yield) or judge (talk on until the words "
                "show an interruption). Default: the agent's `turn_taking.interruption`."
            ),
        ] = None,
    ) -> None:
        """Serve the agent over Twilio Media Streams (POST /twiml, WS /media, WS /agent, /metrics)."""
        from workbench.telephony.server.config import ServerConfig
        from workbench.telephony.server.run import run_server
        from workbench.telephony.server.workers import parse_workers

        if ear is not None:
            check_ear(ear)
        if verbose:
            logging.getLogger("workbench").setLevel(logging.INFO)
        config = ServerConfig(
            host=host,
            port=port,
            agent_path=agent,
            token=token,
            crm=crm,
            public_url=public_url,
            drain_timeout_s=drain_timeout,
            workers=parse_workers(workers),
            ear=ear,
            max_calls=max_calls,
            when_full=when_full,
            twilio_auth_token=twilio_auth_token or None,
            max_loop_lag_ms=max_loop_lag_ms,
            max_turn_latency_ms=max_turn_latency_ms,
            interruption=interruption,
        )

        def ready(server: object) -> None:
            bound = getattr(server, "port", port)
            processes = f" ({config.workers} workers)" if config.workers > 1 else ""
            signed = ", Twilio signatures checked" if config.twilio_auth_token else ""
            typer.echo(
                f"serving on http://{host}:{bound}{processes}, {getattr(server, 'ear', '?')} ear, "
                f"up to {config.calls_per_process} calls per process{signed}"
                " — TwiML POST /twiml, media "
                f"ws://{host}:{bound}/media, agents ws …/agent, GET /healthz /metrics "
                "(Ctrl-C drains and stops)"
            )

        run_server(config, ready=ready)

    @app.command()
    def call(
        url: Annotated[
            str, typer.Argument(help="The media WebSocket, e.g. ws://127.0.0.1:8080/media")
        ],
        scenario: Annotated[Path, typer.Option(help="Scenario file whose caller to play.")],
        token: Annotated[str | None, typer.Option(help="Token sent in customParameters.")] = None,
        twilio_auth_token: Annotated[
            str | None,
            typer.Option(
                envvar="TWILIO_AUTH_TOKEN",
                show_envvar=True,
                help="Sign the stream's upgrade with X-Twilio-Signature, as Twilio does, for an "
                "agent that checks signatures.",
            ),
        ] = None,
        public_url: Annotated[
            str | None,
            typer.Option(
                help="The stream URL the agent knows itself by, which the signature covers "
                "(e.g. wss://agent.example.com/media; default: URL)."
            ),
        ] = None,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Also write the results as JSON.")
        ] = None,
        listen: Annotated[
            bool,
            typer.Option(
                help="Transcribe the agent's audio as the caller heard it (the accurate ear), "
                "so agent_said / agent_never_said / wait_for agent_said are judged."
            ),
        ] = True,
        vocabulary: Annotated[
            str,
            typer.Option(
                help="Comma-separated names the agent says (company, people, products), "
                "taught to the caller's ear, e.g. 'Northwind Software,Ava'."
            ),
        ] = "",
        org: Annotated[
            str | None,
            typer.Option(
                envvar="SF_INSTANCE_URL",
                help="The agent's org, where crm / topic / routed_to are checked by callSid.",
            ),
        ] = None,
        org_token: Annotated[
            str | None,
            typer.Option(envvar="SF_SESSION_ID", help="A session id (bearer token) for --org."),
        ] = None,
    ) -> None:
        """Phone any Media Streams endpoint with a scenario's scripted caller; print what it heard."""
        from workbench.errors import ConfigError, WorkbenchError
        from workbench.scenario.schema import load_scenario
        from workbench.telephony.caller.scripted import run_scenario_call

        if not url.startswith(("ws://", "wss://")):
            raise ConfigError(f"{url!r}: expected a ws:// or wss:// media-stream URL")
        if public_url is not None and not public_url.startswith(("ws://", "wss://")):
            raise ConfigError(f"--public-url {public_url!r}: expected a ws:// or wss:// URL")
        loaded = load_scenario(scenario)
        if bool(org) != bool(org_token):
            raise ConfigError(
                "--org and --org-token go together (or SF_INSTANCE_URL + SF_SESSION_ID)"
            )
        org_client = None
        if org and org_token:
            from workbench.telephony.caller.org_expect import org_client as make_org_client

            org_client = make_org_client(org, org_token)
        result = run_scenario_call(
            url,
            loaded,
            token=token,
            twilio_auth_token=twilio_auth_token or None,
            signed_url=public_url,
            listen=listen,
            vocabulary=tuple(w.strip() for w in vocabulary.split(",") if w.strip()),
            org=org_client,
        )
        data = result.as_dict()
        _print_call(data)
        if json_out is not None:
            json_out.write_text(json.dumps(data, indent=2, default=float))
        if result.results.refused:
            raise WorkbenchError(f"{url}: the agent refused the call ({result.error})")
        if result.error:
            raise WorkbenchError(f"{url}: the call failed ({result.error})")
        if result.failed:
            raise typer.Exit(1)

    @app.command()
    def desk(
        url: Annotated[
            str, typer.Argument(help="The server's agent endpoint.")
        ] = "ws://127.0.0.1:8080/agent",
        token: Annotated[str | None, typer.Option(help="The server's token.")] = None,
        name: Annotated[
            str, typer.Option(help="Your name, as callers' records show it.")
        ] = "agent",
        skills: Annotated[
            str, typer.Option(help="Comma-separated skills (topics) you take; empty: all.")
        ] = "",
    ) -> None:
        """A terminal agent desk: see queued calls, take one (context first), type to speak."""
        from workbench.telephony.handoff.desk import run_desk

        run_desk(
            url,
            token=token,
            name=name,
            skills=tuple(s.strip() for s in skills.split(",") if s.strip()),
        )

    @bench.command("serve")
    def bench_serve(
        calls: Annotated[int, typer.Option(help="Concurrent calls.")] = 2,
        duration: Annotated[float, typer.Option(help="Seconds to keep calls cycling.")] = 30.0,
        soak_minutes: Annotated[
            float, typer.Option(help="Soak mode: cycle calls this long, report memory slope.")
        ] = 0.0,
        barge_in_every: Annotated[
            int, typer.Option(help="Make every Nth call a barge-in call (0: none).")
        ] = 0,
        agent: Annotated[Path | None, typer.Option(help="Agent directory.")] = None,
        workers: Annotated[
            str, typer.Option(help="The server's worker processes: a number or 'auto' (per core).")
        ] = "auto",
        stagger: Annotated[
            float,
            typer.Option(
                help="Spread the callers' first calls over this many seconds (about one call's "
                "length) so they talk at unrelated moments, as real calls do; only calls placed "
                "after the ramp are measured. 0: all start and talk in step, the worst case."
            ),
        ] = 20.0,
        ear: Annotated[
            str | None, typer.Option("--ear", help=EAR_HELP + " Default: fast, as serve's.")
        ] = None,
        max_calls: Annotated[
            int | None,
            typer.Option(help="The server's admission limit per process (serve --max-calls)."),
        ] = None,
        overload: Annotated[
            float,
            typer.Option(
                help="Overload mode: dial this multiple of the server's capacity (--max-calls × "
                "workers) instead of --calls; refused calls redial and are counted apart."
            ),
        ] = 0.0,
        max_loop_lag_ms: Annotated[
            float | None,
            typer.Option(help="The server's overload guard (serve --max-loop-lag-ms; 0: off)."),
        ] = None,
        max_turn_latency_ms: Annotated[
            float | None,
            typer.Option(help="The server's reply guard (serve --max-turn-latency-ms; 0: off)."),
        ] = None,
    ) -> None:
        """N concurrent scripted calls over loopback; caller-side latency, server CPU and memory."""
        from workbench.telephony.bench import dumps, run_serve_bench
        from workbench.telephony.server.workers import parse_workers

        if ear is not None:
            check_ear(ear)
        result = run_serve_bench(
            calls=calls,
            duration_s=duration,
            soak_minutes=soak_minutes,
            agent=agent,
            barge_in_every=barge_in_every,
            workers=parse_workers(workers),
            stagger_s=stagger,
            ear=ear,
            max_calls=max_calls,
            overload=overload,
            max_loop_lag_ms=max_loop_lag_ms,
            max_turn_latency_ms=max_turn_latency_ms,
            progress=lambda text: typer.echo(text, err=True),
        )
        typer.echo(dumps(result))

    @bench.command("protocol")
    def bench_protocol(
        messages: Annotated[int, typer.Option(help="Messages per timed round.", min=1)] = 20_000,
        rounds: Annotated[int, typer.Option(help="Timed rounds (the best counts).", min=1)] = 5,
    ) -> None:
        """CPU per Media Streams message read and written, beside json.loads of the same frame."""
        from workbench.telephony.protocol_bench import run_protocol_bench

        typer.echo(json.dumps(run_protocol_bench(messages, rounds), indent=2))

    @bench.command("caller-ear")
    def bench_caller_ear(
        scenarios: Annotated[
            list[Path] | None,
            typer.Argument(help="Scenario files or folders (default: the bundled scenarios)."),
        ] = None,
        agent: Annotated[Path | None, typer.Option(help="Agent directory to serve.")] = None,
        concurrency: Annotated[int, typer.Option(help="Calls at once.")] = 2,
        vocabulary: Annotated[
            str | None,
            typer.Option(help="Comma-separated names for the ear (default: the agent's own)."),
        ] = None,
    ) -> None:
        """Served calls heard by the caller's ear: share of agent sentences with WER ≤ 10 %."""
        from workbench.errors import ConfigError
        from workbench.paths import SCENARIOS_DIR
        from workbench.telephony.caller_ear_bench import run_caller_ear_bench

        paths: list[Path] = []
        for given in scenarios or [SCENARIOS_DIR]:
            if given.is_dir():
                paths += sorted(given.glob("*.yaml"))
            elif given.is_file():
                paths.append(given)
            else:
                raise ConfigError(f"{given}: no such scenario file or folder")
        words = (
            None if vocabulary is None else [w.strip() for w in vocabulary.split(",") if w.strip()]
        )
        result = run_caller_ear_bench(paths, agent=agent, concurrency=concurrency, vocabulary=words)
        typer.echo(json.dumps(result, indent=2))


def overlap_lines(report: dict) -> list[str]:
    """The overlap outcomes of a call (`overlaps.OverlapTracker.report`) as text lines."""
    from workbench.telephony.caller.overlaps import summary_text

    if not report:
        return []

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{float(value):.0f} ms"

    lines = []
    for o in report.get("overlaps", []):
        detail = f"stop {ms(o['stop_latency_ms'])}"
        if o["outcome"] == "resumed":
            detail += f", resume gap {ms(o['resume_gap_ms'])}"
        if o.get("returned_as"):
            detail += f", came back as {o['returned_as']}"
        if o.get("clear_ms") is not None:
            detail += f", clear at +{o['clear_ms'] - o['onset_ms']:.0f} ms"
        lines.append(
            f"overlap at {o['onset_ms']:.0f} ms ({o['intent']}): {o['outcome']} — {detail}"
        )
    s = report.get("summary") or {}
    if s.get("overlaps"):
        lines.append(summary_text(s))
    lines.append(f"policy observed: {report.get('policy', '-')}")
    return lines


def _print_call(data: dict) -> None:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{float(value):.0f} ms"

    typer.echo(f"call {data['call_sid']}")
    for action in data.get("actions", []):
        typer.echo(f"  step {action['step']}: {action['label']} at {action['started_ms']:.0f} ms")
    typer.echo(f"  first agent audio: {ms(data['first_agent_audio_ms'])}")
    for i, latency in enumerate(data["turn_latencies_ms"], 1):
        typer.echo(f"  turn {i}: latency {ms(latency)} (caller's last speech → agent audio heard)")
    for value in data["barge_in_stop_ms"]:
        typer.echo(f"  barge-in stop: {ms(value)}")
    for reason, n in data.get("not_applicable", {}).items():
        typer.echo(f"  not applicable: {reason} ×{n}")
    for line in overlap_lines(data.get("overlaps") or {}):
        typer.echo("  " + line)
    typer.echo(
        f"  media {data['media_received']}, marks {data['marks_received']} "
        f"(echoed {data['marks_echoed']}), clears {data['clears_received']}, "
        f"late ticks {data['late_sends']}"
    )
    for error in data["protocol_errors"]:
        typer.echo(f"  protocol error: {error}")
    if data.get("conversation"):
        typer.echo("  as heard at the caller:")
    for line in data.get("conversation", []):
        latency = f" ({line['latency_ms']:.0f} ms)" if line.get("latency_ms") is not None else ""
        cut = f" [cut: {line['cut_by']}]" if line.get("cut_by") else ""
        at = f"{line['at_ms'] / 1000:6.1f} s"
        typer.echo(f"    {at} {line['speaker']:>6}{latency}: {line['text']}{cut}")
    for o in data.get("outcomes", []):
        typer.echo(
            f"  [{o['status']}] {o['where']}: {o['expectation']} {o['expected']} — {o['evidence']}"
        )
