"""Synthetic phone calls against a Twilio-Media-Streams agent, with Locust.

    locust -f loadtests/locustfile.py --host ws://127.0.0.1:8080/media            # web UI
    locust -f loadtests/locustfile.py --headless -u 20 -r 2 -t 5m --host ws://…/media
    locust -f loadtests/locustfile.py --headless --processes 2 -u 400 -r 50 -t 2m --host …
    LOAD_SHAPE=spike locust -f loadtests/locustfile.py --headless --host …           # a shape
    workbench load ws://127.0.0.1:8080/media --users 20 --duration 5m                # wrapper

Each `SyntheticCaller` is a phone line placing calls one after another: it picks a scenario
by weight (`weight:N` tag, default 1) from `--scenarios`, plays its caller in real time (one
20 ms frame per tick from the process's shared pacer), hears the agent through a playout
buffer, echoes marks, honours `clear`, presses keys, barges in and backchannels, and reports
per turn (`events.request`): call_setup, ttfa, response_latency, barge_in_stop,
false_interruption and call (completed, or failed with its cause); a call the agent refused at
capacity (503 before any audio) is `call_refused`, not a failure. A measure that did not apply
(a barge-in that found the agent silent) is kept in the exact report with its reason and sent
to Locust's statistics not at all (no number to chart). Given `--twilio-auth-token` (or
TWILIO_AUTH_TOKEN) every stream upgrade carries `X-Twilio-Signature`, as Twilio's would.

Locust's own statistics round response times (two significant digits), so every sample is also
kept raw (workers ship theirs to the master with their regular reports) and at the end the
master — or the single process — writes the exact report (`--exact-report PREFIX`: raw CSV,
percentile CSV, JSON, HTML with charts), including the generator self-check (pacing lateness
and CPU: a starved generator marks the run invalid) and, with `--org-url/--org-token`, the
CRM reconciliation.

While it runs, the master — or the single process — prints a progress line (JSON) to stdout
every 2 s: users, calls completed, exact p50/p95 turn response latency so far, failures (see
progress.py). Locust logs to stderr, so stdout carries only these lines.

Shapes (`LOAD_SHAPE=ramp|spike|soak|replay|arrival`, parameters as options, see shapes.py).
"""

from __future__ import annotations

import logging
import os
import random
import sys
import time
from pathlib import Path

import gevent
import gevent.lock
from locust import User, constant, events, task
from locust.runners import MasterRunner, WorkerRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helpers beside this file

import call_script  # noqa: E402
import greenlet_pacer  # noqa: E402
import listening  # noqa: E402
import media_call  # noqa: E402
import progress  # noqa: E402
import shapes  # noqa: E402

from workbench.errors import ConfigError  # noqa: E402
from workbench.loadreport import (  # noqa: E402
    GeneratorHealth,
    Sample,
    build_report,
    listened_report,
    write_report,
)
from workbench.telephony.caller.listened import parse_listen  # noqa: E402

log = logging.getLogger("loadtests")
REPO = Path(__file__).resolve().parent.parent


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    group = parser.add_argument_group("synthetic calls (workbench)")
    group.add_argument("--scenarios", default=str(REPO / "scenarios"), help="Scenario dir/file")
    group.add_argument("--only", default="", help="Comma-separated scenario names to use")
    group.add_argument(
        "--voice", default="", help="Caller voice for every scenario (synthetic = tones, no TTS)"
    )
    group.add_argument("--token", default="", help="Sent in start.customParameters.token")
    group.add_argument(
        "--twilio-auth-token",
        default=os.environ.get("TWILIO_AUTH_TOKEN", ""),
        help="Sign each stream upgrade (X-Twilio-Signature) with this auth token "
        "(default: $TWILIO_AUTH_TOKEN)",
    )
    group.add_argument(
        "--public-url",
        default="",
        help="The stream URL the agent knows itself by, which signatures cover (default: host)",
    )
    group.add_argument("--exact-report", default="", help="Report prefix (default: under home)")
    group.add_argument("--think-time", type=float, default=1.0, help="Seconds between calls")
    group.add_argument("--max-lateness-ms", type=float, default=10.0, help="Self-check p99")
    group.add_argument("--max-cpu", type=float, default=90.0, help="Self-check CPU %%")
    group.add_argument("--org-url", default="", help="Org instance URL for reconciliation")
    group.add_argument("--org-token", default="", help="Org session id / token")
    group.add_argument("--org-wait", type=float, default=30.0, help="Seconds to wait for records")
    group.add_argument("--burn-cpu-ms", type=float, default=0.0, help="Starve the pacer (tests)")
    group.add_argument(
        "--listen",
        default="0",
        help="Record this share of calls (e.g. 10%%) and transcribe each after it ends, in "
        "another process: the agent's words, agent_said verdicts (default 0: off)",
    )
    group.add_argument(
        "--listen-vocabulary", default="", help="Comma-separated names taught to the ear"
    )
    group.add_argument(
        "--listen-wait", type=float, default=120.0, help="Seconds to wait for transcripts at end"
    )
    group.add_argument(
        "--listen-hold",
        action="store_true",
        help="Transcribe the sampled calls when the run stops, not as each ends (no "
        "transcription beside the pacing loop)",
    )
    # Shape parameters (LOAD_SHAPE=…).
    group.add_argument("--peak-users", type=int, default=50)
    group.add_argument("--ramp-s", type=float, default=60.0)
    group.add_argument("--hold-s", type=float, default=300.0)
    group.add_argument("--base-users", type=int, default=10)
    group.add_argument("--warm-s", type=float, default=60.0)
    group.add_argument("--spike-s", type=float, default=60.0)
    group.add_argument("--recover-s", type=float, default=120.0)
    group.add_argument("--soak-s", type=float, default=4 * 3600.0)
    group.add_argument(
        "--arrival-profile",
        default=str(Path(__file__).parent / "profiles/call-arrivals-sample.csv"),
    )
    group.add_argument("--fraction", type=float, default=0.15, help="Replay level vs recorded")
    group.add_argument("--replay-s", type=float, default=600.0)
    group.add_argument("--mean-call-s", type=float, default=60.0)
    group.add_argument("--arrival-rate", type=float, default=0.0, help="New calls per second")
    group.add_argument("--rate-increase", type=float, default=0.0)
    group.add_argument("--rate-period", type=float, default=10.0)
    group.add_argument("--rate-max", type=float, default=0.0)
    group.add_argument("--max-calls", type=int, default=100, help="Arrival mode: concurrency cap")
    group.add_argument("--arrival-s", type=float, default=300.0)


# ---------------------------------------------------------------- process-wide state


class _Process:
    plans: list[call_script.CallPlan] | None = None
    samples: list[Sample] = []
    unsent: list[tuple] = []  # worker: samples not yet shipped to the master
    worker_health: dict[str, dict] = {}
    gate = shapes.ArrivalGate()
    plans_lock = gevent.lock.Semaphore()
    run_started = time.perf_counter()
    progress: gevent.Greenlet | None = None
    listener: listening.Listener | None = None
    listened: list[dict] = []  # one per sampled call: heard, or why not
    unsent_listened: list[dict] = []  # worker: not yet shipped to the master
    flushed: set[str] = set()  # master: workers that sent their last transcripts


def _plans(options) -> list[call_script.CallPlan]:
    """The scenario plans, rendered once per process.

    Rendering (TTS) runs on gevent's native thread pool: done on the hub's thread it would hold
    the process for seconds, and a worker that misses its heartbeats is dropped by the master.
    """
    if _Process.plans is None:
        with _Process.plans_lock:
            if _Process.plans is None:
                only = [name for name in options.only.split(",") if name]
                plans = gevent.get_hub().threadpool.apply(
                    call_script.load_plans,
                    ([Path(options.scenarios)],),
                    {"voice": options.voice or None, "only": only},
                )
                if not plans:
                    raise RuntimeError(f"no scenarios with weight > 0 under {options.scenarios}")
                log.info("%d scenarios ready (audio pre-rendered)", len(plans))
                _Process.plans = plans
    return _Process.plans


def _options_of(environment):
    return environment.parsed_options


class SyntheticCaller(User):
    """A phone line: calls the target again and again, one scenario per call."""

    wait_time = constant(0)

    def on_start(self) -> None:
        self.options = _options_of(self.environment)
        self.rng = random.Random()
        self.pacer = greenlet_pacer.process_pacer(self.options.burn_cpu_ms)

    def _arrival_wait(self) -> None:
        """Arrival-rate mode: wait for this process's next call slot (SIPp -r with -l)."""
        opts = self.options
        runner = self.environment.runner
        shape = self.environment.shape_class
        t = time.perf_counter() - _Process.run_started
        rate = shape.rate_at(t) if isinstance(shape, shapes.ArrivalRate) else opts.arrival_rate
        if rate <= 0:
            return
        lines_total = shape.max_calls if isinstance(shape, shapes.ArrivalRate) else None
        lines_here = max(1, runner.user_count if runner is not None else 1)
        share = rate * (lines_here / lines_total if lines_total else 1.0)
        start = _Process.gate.reserve(time.perf_counter(), min(share, rate))
        gevent.sleep(max(0.0, start - time.perf_counter()))

    @task
    def place_call(self) -> None:
        arrivals = self.options.arrival_rate > 0 or isinstance(
            self.environment.shape_class, shapes.ArrivalRate
        )
        if arrivals:
            self._arrival_wait()
        plan = call_script.pick(_plans(self.options), self.rng)
        listener = _Process.listener
        recording = listener.sample() if listener is not None else None
        call = media_call.LocustCall(
            self.host or self.environment.host,
            self.pacer,
            token=self.options.token or None,
            caller_number=plan.caller_number,
            twilio_auth_token=self.options.twilio_auth_token or None,
            signed_url=self.options.public_url or None,
        )
        if recording is not None:
            recording.scenario, recording.call_sid = plan.name, call.call_sid
            call.recording = recording

        def report(name: str, value_ms: float, ok: bool, cause: str) -> None:
            _record(self.environment, plan.name, call.call_sid, name, value_ms, ok, cause)

        call_script.play_call(call, plan, report)
        if listener is not None and recording is not None:
            listener.submit(recording, plan.heard)  # heard in another process; returns at once
        if self.options.think_time > 0 and not arrivals:
            gevent.sleep(self.rng.uniform(0.5, 1.5) * self.options.think_time)


def _record(environment, scenario, call_sid, name, value_ms, ok, cause) -> None:
    sample = Sample(time.time(), name, float(value_ms), ok, scenario, call_sid, cause)
    if sample.applies:  # (a measure that did not apply has no number for Locust's charts)
        _fire(environment, name, value_ms, ok, cause, scenario, call_sid)
    if isinstance(environment.runner, WorkerRunner):
        _Process.unsent.append(tuple(sample.__dict__.values()))
    else:
        _Process.samples.append(sample)


def _fire(environment, name, value_ms, ok, cause, scenario, call_sid) -> None:
    environment.events.request.fire(
        request_type="CALL" if name in ("call", "call_setup", "call_refused") else "TURN",
        name=name,
        response_time=float(value_ms),
        response_length=int(value_ms) if name == "call" else 0,
        exception=None if ok else Exception(cause or name),
        context={"scenario": scenario, "call_sid": call_sid},
    )


def _heard(environment, heard: dict) -> None:
    """A sampled call, heard: each `agent_said` / `agent_never_said` verdict goes to Locust's
    statistics (request type = the expectation, name = the scenario; a failure's message
    names the pattern and what was heard), the call to the report's listened section."""
    for verdict in heard.get("verdicts", ()):
        if verdict["status"] not in ("pass", "fail"):
            continue
        message = f"{verdict['where']}: {verdict['expected']} — {verdict['evidence']}"
        environment.events.request.fire(
            request_type=verdict["expectation"],
            name=heard["scenario"],
            response_time=0.0,
            response_length=0,
            exception=None if verdict["status"] == "pass" else Exception(message),
            context={"scenario": heard["scenario"], "call_sid": heard["call_sid"]},
        )
    if isinstance(environment.runner, WorkerRunner):
        _Process.unsent_listened.append(heard)
    else:
        _Process.listened.append(heard)


# ---------------------------------------------------------------- distributed plumbing


@events.report_to_master.add_listener
def _ship(client_id, data) -> None:
    data["exact_samples"], _Process.unsent = _Process.unsent, []
    data["listened"], _Process.unsent_listened = _Process.unsent_listened, []
    if greenlet_pacer._PACER is not None:
        data["exact_health"] = greenlet_pacer._PACER.measured.to_dict()


@events.worker_report.add_listener
def _receive(client_id, data) -> None:
    for row in data.get("exact_samples", ()):
        _Process.samples.append(Sample(*row))
    _Process.listened.extend(data.get("listened", ()))
    if "exact_health" in data:
        health = dict(data["exact_health"])
        health["process"] = f"worker {client_id[-12:]}"
        _Process.worker_health[client_id] = health


@events.init.add_listener
def _listening_messages(environment, **_kw) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        runner.register_message("listened", _receive_listened)
    elif isinstance(runner, WorkerRunner):
        runner.register_message("listen_flush", _flush_listening)


@events.test_stopping.add_listener
def _collect_listening(environment, **_kw) -> None:
    """Master: a run ending by its time limit quits the workers half a second after telling
    them, too soon for the transcripts they still wait for; so first each worker is asked
    for them (`listen_flush`) and the master waits (bounded by --listen-wait) for every
    worker's answer."""
    runner = environment.runner
    o = environment.parsed_options
    if not isinstance(runner, MasterRunner) or parse_listen(o.listen) <= 0:
        return
    workers = {client.id for client in runner.clients.all}
    _Process.flushed.clear()
    runner.send_message("listen_flush", None)
    deadline = time.monotonic() + o.listen_wait + 5.0
    while not workers <= _Process.flushed and time.monotonic() < deadline:
        gevent.sleep(0.2)


def _flush_listening(environment, msg, **_kw) -> None:
    """Worker: stop sampling, wait for the calls being heard, send them to the master."""

    def flush() -> None:
        listener = _Process.listener
        if listener is not None:
            listener.closed = True
            listener.wait(environment.parsed_options.listen_wait)
        heard, _Process.unsent_listened = _Process.unsent_listened, []
        environment.runner.send_message("listened", heard)

    gevent.spawn(flush)


def _receive_listened(environment, msg, **_kw) -> None:
    _Process.listened.extend(msg.data or ())
    _Process.flushed.add(msg.node_id)


@events.test_start.add_listener
def _started(environment, **_kw) -> None:
    _Process.run_started = time.perf_counter()
    if not isinstance(environment.runner, WorkerRunner):
        _stop_progress()
        _Process.progress = gevent.spawn(_print_progress, environment, _Process.run_started)
    if not isinstance(environment.runner, MasterRunner):
        _start_listening(environment)
        _plans(environment.parsed_options)  # render the callers' audio before any call starts
        greenlet_pacer.settle_gc()  # Locust, gevent, the plans: out of the collector's sight


def _start_listening(environment) -> None:
    """`--listen PCT`: the listening process, started before any call (and before the measured
    window: it loads its models while the run ramps up)."""
    o = environment.parsed_options
    try:
        percent = parse_listen(o.listen)
    except ConfigError as error:
        raise SystemExit(str(error)) from None
    if percent <= 0 or _Process.listener is not None:
        return
    vocabulary = tuple(w.strip() for w in o.listen_vocabulary.split(",") if w.strip())
    _Process.listener = listening.Listener(
        percent, vocabulary, lambda heard: _heard(environment, heard), hold=o.listen_hold
    ).start()


@events.test_stop.add_listener
def _wait_for_listening(environment, **_kw) -> None:
    """The calls are over: wait (bounded by --listen-wait) for the sampled ones being heard."""
    listener = _Process.listener
    if listener is not None:
        listener.wait(environment.parsed_options.listen_wait)


def _print_progress(environment, started: float) -> None:
    """Master or single process: a progress line on stdout every 2 s, and a last one when the
    test stops (killed by `_stop_progress`)."""
    tracker = progress.ProgressTracker()

    def emit() -> bool:
        runner = environment.runner
        line = tracker.line(
            _Process.samples,
            t_s=time.perf_counter() - started,
            users=runner.user_count if runner is not None else 0,
            failures=environment.stats.total.num_failures,
        )
        try:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        except (OSError, ValueError):  # nobody reads stdout any more: stop printing
            return False
        return True

    try:
        while True:
            gevent.sleep(progress.PROGRESS_EVERY_S)
            if not emit():
                return
    except gevent.GreenletExit:
        emit()


@events.test_stop.add_listener
def _stop_progress(**_kw) -> None:
    if _Process.progress is not None:
        _Process.progress.kill(block=True, timeout=2.0)
        _Process.progress = None


@events.spawning_complete.add_listener
def _steady(user_count, **_kw) -> None:
    """Judge the generator on the steady state: the window starts `greenlet_pacer.SETTLE_S` after
    all users are spawned (the first time only) and ends when the test stops."""
    if greenlet_pacer._PACER is not None:
        greenlet_pacer._PACER.begin_window()


@events.test_stopping.add_listener
def _window_ends(**_kw) -> None:
    if greenlet_pacer._PACER is not None:
        greenlet_pacer._PACER.end_window()


# ---------------------------------------------------------------- shapes

_SHAPE = os.environ.get("LOAD_SHAPE", "").strip()
if _SHAPE:
    from locust import LoadTestShape

    if _SHAPE not in shapes.SHAPES:
        raise SystemExit(f"LOAD_SHAPE={_SHAPE}: expected one of {', '.join(shapes.SHAPES)}")

    class ChosenShape(shapes.SHAPES[_SHAPE], LoadTestShape):  # type: ignore[misc]
        """The shape named by LOAD_SHAPE, configured from the command-line options."""

        def __init__(self) -> None:
            shapes.Shape.__init__(self)
            self._configured = False

        def tick(self):
            if not self._configured:
                self._configure(self.runner.environment.parsed_options)
            return super().tick()

        def _configure(self, o) -> None:
            self._configured = True
            started = self.start_time
            params = {
                "ramp": {"peak": o.peak_users, "ramp_s": o.ramp_s, "hold_s": o.hold_s},
                "spike": {
                    "base": o.base_users,
                    "peak": o.peak_users,
                    "warm_s": o.warm_s,
                    "spike_s": o.spike_s,
                    "recover_s": o.recover_s,
                },
                "soak": {"users": o.peak_users, "duration_s": o.soak_s, "ramp_s": o.ramp_s},
                "replay": {
                    "profile": shapes.load_arrival_profile(Path(o.arrival_profile)),
                    "fraction": o.fraction,
                    "duration_s": o.replay_s,
                    "mean_call_s": o.mean_call_s,
                },
                "arrival": {
                    "rate": o.arrival_rate or 1.0,
                    "max_calls": o.max_calls,
                    "duration_s": o.arrival_s,
                    "rate_increase": o.rate_increase,
                    "period_s": o.rate_period,
                    "rate_max": o.rate_max or None,
                },
            }[_SHAPE]
            type(self).__mro__[1].__init__(self, **params)
            self.start_time = started


# ---------------------------------------------------------------- the exact report


@events.quitting.add_listener
def _finish_rendering(**_kw) -> None:
    """Stopped while the callers' audio is still rendering (a native TTS thread): let it finish,
    or the interpreter's exit under that thread crashes the process after the report."""
    if _Process.plans_lock.acquire(timeout=60.0):
        _Process.plans_lock.release()
    _forget_espeak_worker()
    if _Process.listener is not None:
        _Process.listener.stop()


def _forget_espeak_worker() -> None:
    """espeak's one worker thread (`tts_espeak._executor`) was started from gevent's native
    thread pool, where monkey-patched `threading` made it a greenlet of that thread's hub: at
    exit `concurrent.futures` joins it from the main thread, where it never runs, and the
    process hung after its report (every run with an espeak caller voice that reached its
    run-time limit). It holds no work by now: let the interpreter exit without joining it."""
    import sys

    espeak = sys.modules.get("workbench.speech.tts_espeak")
    if espeak is None:
        return
    from concurrent.futures import thread as futures_thread

    executor = espeak._executor
    executor.shutdown(wait=False, cancel_futures=True)
    for worker in list(getattr(executor, "_threads", ())):
        futures_thread._threads_queues.pop(worker, None)


@events.quitting.add_listener
def _write_report(environment, **_kw) -> None:
    if isinstance(environment.runner, WorkerRunner):
        return
    _stop_progress()
    o = environment.parsed_options
    health: list[GeneratorHealth] = []
    if isinstance(environment.runner, MasterRunner):
        health = [GeneratorHealth.from_dict(h) for h in _Process.worker_health.values()]
    elif greenlet_pacer._PACER is not None:
        health = [greenlet_pacer._PACER.measured]
    samples = sorted(_Process.samples, key=lambda s: s.t)
    reconciliation = None
    if o.org_url:
        reconciliation = _reconcile(o, samples)
    extra: dict = {"shape": _SHAPE or None}
    percent = parse_listen(o.listen)
    if percent > 0:
        extra["listened"] = listened_report(_Process.listened, percent)
    report = build_report(
        samples,
        health,
        target=environment.host or "",
        reconciliation=reconciliation,
        max_lateness_p99_ms=o.max_lateness_ms,
        max_cpu_percent=o.max_cpu,
        extra=extra,
    )
    prefix = Path(o.exact_report) if o.exact_report else _default_prefix()
    paths = write_report(prefix, report, samples)
    log.warning(
        "exact report: %s (%s)%s",
        paths[-1],
        "valid" if report["valid"] else "INVALID",
        "" if report["generator_valid"] else " — " + "; ".join(report["self_check"]["reasons"]),
    )


def _default_prefix() -> Path:
    from workbench.paths import workbench_home

    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return workbench_home() / "load-reports" / f"load-{stamp}"


def _reconcile(o, samples: list[Sample]) -> dict:
    import reconcile

    try:
        plans = call_script.load_plans(
            [Path(o.scenarios)], render_audio=False, only=[n for n in o.only.split(",") if n]
        )
        intents = {plan.name: plan.expected_intent for plan in plans}
        calls = [
            reconcile.CompletedCall(s.call_sid, s.scenario, s.t, intents.get(s.scenario))
            for s in samples
            if s.name == "call" and s.ok
        ]
        client = reconcile.org_client(o.org_url, o.org_token)
        return reconcile.reconcile(calls, client, wait_s=o.org_wait)
    except Exception as error:  # an unreachable org is a finding, not a crash of the report
        log.warning("reconciliation failed: %s", error)
        return {"error": f"{type(error).__name__}: {error}", "problems": 1}
