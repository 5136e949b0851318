"""`workbench load` and `workbench bench load`: the Locust harness, always in its own process.

Locust monkey-patches the process with gevent when imported, so the workbench never imports
it (an import-linter contract): both commands run `python -m locust -f loadtests/locustfile.py`
as a subprocess and read the exact report (JSON) it writes.

`workbench load local` starts the demo agent (`workbench serve`) on a free loopback
port for the run and stops it afterwards. During a run Locust prints a JSON progress line to
stdout every 2 s (see loadtests/progress.py); they pass straight through to this command's
stdout, where the desktop Load panel reads them.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from workbench.errors import ConfigError, WorkbenchError
from workbench.paths import REPO_ROOT, workbench_home
from workbench.telephony.caller.listened import parse_listen
from workbench.telephony.server.process import ServerProcess, die_with_parent

LOADTESTS_DIR = REPO_ROOT / "loadtests"
LOCUSTFILE = LOADTESTS_DIR / "locustfile.py"
TRIVIAL_TARGET = LOADTESTS_DIR / "trivial_target.py"
SHAPES = ("ramp", "spike", "soak", "replay", "arrival")
LOCAL = "local"  # the target that means "start the demo agent for this run"
SERVER_START_TIMEOUT_S = 90.0  # loading the speech stack takes ~10 s on a laptop


def normalize_duration(text: str) -> str:
    """A run time for Locust's `-t`: a bare number means seconds (`60` → `60s`); `90s`, `5m`,
    `1h`, `1h30m` pass through. Anything else is a ConfigError here, not a Locust traceback."""
    text = text.strip().lower()
    if text.isdigit():
        return f"{int(text)}s"
    if re.fullmatch(r"(\d+h)?(\d+m)?(\d+s)?", text) and text:
        return text
    raise ConfigError(f"--duration {text!r}: expected seconds or e.g. 90s, 5m, 1h, 1h30m")


def check_target(target: str) -> None:
    if not target.startswith(("ws://", "wss://")):
        raise ConfigError(
            f"target {target!r}: expected a ws:// or wss:// media-stream URL, or '{LOCAL}'"
        )


def locust_option(name: str, value: str | None) -> str:
    """One option for the locustfile, its value attached with "=": Locust's argparse would
    read a separate value that starts with "-" (a generated token can) as another option."""
    return f"{name}={value or ''}"


def locust_command(
    target: str,
    *,
    users: int | None = None,
    spawn_rate: float | None = None,
    duration: str | None = None,
    report_prefix: Path,
    scenarios: Path | None = None,
    processes: int = 1,
    headless: bool = True,
    extra: list[str] | None = None,
) -> list[str]:
    """The `python -m locust …` command line for a run of the synthetic-call harness."""
    check_target(target)
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--host", target]
    if headless:
        cmd += ["--headless", "--only-summary"]
    else:
        cmd += ["--web-host", "127.0.0.1"]  # Locust's UI would otherwise listen on every interface
    if users is not None:
        cmd += ["-u", str(users)]
    if spawn_rate is not None:
        cmd += ["-r", f"{spawn_rate:g}"]
    if duration:
        cmd += ["-t", duration]
    if processes > 1:
        cmd += ["--processes", str(processes)]
    cmd += ["--exact-report", str(report_prefix)]
    if scenarios is not None:
        cmd += ["--scenarios", str(scenarios)]
    return cmd + list(extra or [])


def run_locust(
    cmd: list[str],
    *,
    shape: str | None = None,
    quiet: bool = False,
    extra_env: dict[str, str] | None = None,
) -> int:
    """Run Locust to completion in a child process (its own gevent world).

    Stopping is Locust's job: a SIGTERM to this process (the desktop panel's Stop) is passed on
    to it, and Ctrl-C reaches it directly; either way it stops its users and writes the report,
    and this returns as after a normal end."""
    env = dict(os.environ)
    env.pop("LOAD_SHAPE", None)
    env.update(extra_env or {})  # (secrets: in the environment, not on a command line)
    if shape:
        env["LOAD_SHAPE"] = shape
    out = subprocess.DEVNULL if quiet else None
    with subprocess.Popen(
        cmd, env=env, stdout=out, stderr=out, preexec_fn=die_with_parent
    ) as child:
        with _sigterm_forwarded_to(child):
            try:
                return child.wait()
            except KeyboardInterrupt:  # Locust got the SIGINT too; a second Ctrl-C abandons it
                return child.wait()


@contextlib.contextmanager
def _sigterm_forwarded_to(child: subprocess.Popen) -> Iterator[None]:
    """While the block runs, a SIGTERM to this process is sent on to `child` instead."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set signal handlers
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: child.terminate())
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def _sigterm_raises() -> Iterator[None]:
    """While the block runs, SIGTERM raises (so `with` blocks inside clean up) instead of ending
    the process on the spot; `run_locust` forwards it to Locust instead while Locust runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise WorkbenchError("stopped (SIGTERM)")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def read_report(prefix: Path) -> dict[str, Any]:
    path = prefix.with_name(prefix.name + ".json")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise WorkbenchError(f"{path}: the load run wrote no report ({error})") from None


def summary_lines(report: dict[str, Any]) -> list[str]:
    """A few lines for the terminal: verdict, calls, exact percentiles, self-check."""
    check = report["self_check"]
    calls = report["calls"]
    lines = [
        f"target {report['target']}: {'VALID' if report['valid'] else 'INVALID'} run; calls "
        f"completed {calls['completed']}, failed {calls['failed']}, refused by the agent "
        f"{calls.get('refused', 0)}; false interruptions {report['false_interruptions']}"
    ]
    for name, m in report["metrics_ms"].items():
        if m.get("count"):
            lines.append(
                f"  {name:<18} n={m['count']:<6} p50 {m['p50']:8.1f}  p95 {m['p95']:8.1f}  "
                f"p99 {m['p99']:8.1f}  max {m['max']:8.1f} ms"
            )
    for name, causes in report["failures"].items():
        for cause, n in causes.items():
            lines.append(f"  failed {name}: {cause} ×{n}")
    for cause, n in report.get("refusals", {}).items():
        lines.append(f"  refused (at capacity, not a failure): {cause} ×{n}")
    for name, reasons in report.get("not_applicable", {}).items():
        for reason, n in reasons.items():
            lines.append(f"  not applicable {name}: {reason} ×{n}")
    lines += overlap_summary_lines(report.get("overlaps") or {})
    lines += listened_summary_lines(report.get("listened"))
    lat = check["lateness_ms"]
    lines.append(
        f"  generator: pacing lateness p50 {lat['p50']:.1f} / p99 {lat['p99']:.1f} ms over "
        f"{lat['frames']} frames"
        + "".join(
            f"; {p['process']} CPU {p['cpu_percent']['median']:.0f}%" for p in check["processes"]
        )
    )
    lines += [f"  INVALID: {reason}" for reason in check["reasons"]]
    if "reconciliation" in report:
        r = report["reconciliation"]
        if "error" in r:
            lines.append(f"  reconciliation failed: {r['error']}")
        else:
            delay = r["hangup_to_record_ms"]
            lines.append(
                f"  CRM: {r['found']}/{r['checked']} calls have a VoiceCall; missing "
                f"{len(r['missing'])}, duplicated {len(r['duplicated'])}, wrong intent "
                f"{len(r['wrong_intent'])}, late {len(r['late'])}"
                + (f"; hang-up → record p50 {delay['p50']:.0f} ms" if delay.get("count") else "")
            )
    return lines


def listened_summary_lines(listened: dict[str, Any] | None) -> list[str]:
    """`--listen`: calls heard, the verdicts, and the slowest turn in words."""
    if not listened:
        return []
    verdicts = "; ".join(
        f"{name} " + ", ".join(f"{status} {n}" for status, n in sorted(counts.items()))
        for name, counts in listened["expectations"].items()
    )
    lines = [
        f"  listened ({listened['percent']:g}% of calls): sampled {listened['sampled']}, "
        f"transcribed {listened['transcribed']}" + (f"; {verdicts}" if verdicts else "")
    ]
    lines += [f"    not transcribed: {why} ×{n}" for why, n in listened["not_transcribed"].items()]
    lines += [
        f"    failed {v['expectation']} ({v['scenario']}, {v['where']}): {v['expected']} — "
        f"{v['evidence']}"
        for v in listened["verdicts"][:3]
        if v["status"] == "fail"
    ]
    if listened["slowest_turns"]:
        turn = listened["slowest_turns"][0]
        lines.append(
            f"    slowest turn {turn['latency_ms']:.0f} ms ({turn['scenario']}): caller "
            f"{turn['caller']!r} → agent {turn['agent']!r}"
        )
    return lines


def overlap_summary_lines(overlaps: dict[str, Any]) -> list[str]:
    """The run's overlap outcomes (`loadreport.overlap_report`): in all, and per scenario when
    there are several, each with the policy the callers observed."""
    from workbench.telephony.caller.overlaps import summary_text

    if not overlaps.get("summary", {}).get("overlaps"):
        return []
    lines = [f"  {summary_text(overlaps['summary'])}; policy observed: {overlaps['policy']}"]
    scenarios = overlaps.get("scenarios", {})
    if len(scenarios) > 1:
        for name, part in scenarios.items():
            lines.append(f"    {name}: {summary_text(part['summary'])}; {part['policy']}")
    return lines


class TrivialTarget:
    """The trivial agent (`loadtests/trivial_target.py`) in its own process."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[str] | None = None
        self.url = ""

    def __enter__(self) -> TrivialTarget:
        self.process = subprocess.Popen(
            [sys.executable, str(TRIVIAL_TARGET), "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("ready "):
            self.__exit__()
            raise WorkbenchError(f"{TRIVIAL_TARGET}: the trivial target did not start ({line!r})")
        self.url = line.split()[1]
        return self

    def cpu_seconds(self) -> float | None:
        """The target's user + system CPU so far (Linux /proc), or None."""
        if self.process is None:
            return None
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def __exit__(self, *exc: object) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
            self.process = None


def local_server(
    log_path: Path,
    *,
    timeout_s: float = SERVER_START_TIMEOUT_S,
    env: dict[str, str] | None = None,
) -> ServerProcess:
    """The demo agent for one `load local` run, its output beside the report (this command's
    stdout carries Locust's progress lines). Like every call the workbench handles, the
    synthetic calls are written to the configured org (the embedded local org by default)."""
    return ServerProcess(
        log_path=log_path, timeout_s=timeout_s, extra=("--drain-timeout", "5"), env=env
    )


def _org_of_local_target(stack: contextlib.ExitStack) -> tuple[str, str] | None:
    """(URL, token) of the org the locally served demo agent writes to, for reconciliation.

    A configured org (SF_INSTANCE_URL + SF_SESSION_ID) is used as is. Unconfigured, the server
    writes to the embedded local org's database: a second server on the same database (no
    seeding: the agent's server has done it) answers the queries, for as long as the run lasts.
    An org reached by username/password has no token to hand Locust: not reconciled.
    """
    from workbench.crm.sink import CrmSettings, default_org_db_path

    settings = CrmSettings.from_env()
    if settings.instance_url and settings.session_id:
        return settings.instance_url, settings.session_id
    if settings.uses_real_org:
        return None
    from workbench.crm.org import LocalOrg

    org = LocalOrg(
        host="127.0.0.1",
        db_path=settings.org_db_path or default_org_db_path(),
        seed_demo_data=False,
    ).start()
    stack.callback(org.stop)
    return org.instance_url, org.token


def demo_vocabulary() -> list[str]:
    """The names the demo agent says (what `load local` serves), for the listening ear."""
    from workbench.agent import load_agent
    from workbench.paths import DEMO_AGENT_DIR

    return [w for w in load_agent(DEMO_AGENT_DIR).vocabulary() if w and "," not in w]


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command("load")
    def load(
        target: Annotated[
            str,
            typer.Argument(
                help="Media WebSocket, e.g. ws://127.0.0.1:8080/media, or 'local': the demo "
                "agent, started on a free loopback port for the run."
            ),
        ],
        users: Annotated[int, typer.Option(help="Concurrent calls (phone lines).")] = 10,
        spawn_rate: Annotated[float, typer.Option(help="Lines opened per second.")] = 2.0,
        duration: Annotated[
            str, typer.Option(help="Run time: seconds, or e.g. 90s, 5m, 1h.")
        ] = "1m",
        shape: Annotated[
            str | None,
            typer.Option(help=f"A load shape instead of users/duration: {', '.join(SHAPES)}."),
        ] = None,
        scenarios: Annotated[
            Path | None, typer.Option(help="Scenario directory or file (default: scenarios/).")
        ] = None,
        processes: Annotated[int, typer.Option(help="Locust worker processes (one per core).")] = 1,
        token: Annotated[str | None, typer.Option(help="Token sent in customParameters.")] = None,
        twilio_auth_token: Annotated[
            str | None,
            typer.Option(
                envvar="TWILIO_AUTH_TOKEN",
                show_envvar=True,
                help="Sign every stream upgrade with X-Twilio-Signature, as Twilio does (an agent "
                "that checks signatures refuses unsigned calls); with 'local', the served agent "
                "checks them too.",
            ),
        ] = None,
        public_url: Annotated[
            str | None,
            typer.Option(
                help="The stream URL the agent knows itself by (its --public-url + /media), "
                "which the signatures cover; default: TARGET."
            ),
        ] = None,
        voice: Annotated[
            str | None, typer.Option(help="Caller voice for all scenarios (synthetic: no TTS).")
        ] = None,
        report: Annotated[
            Path | None, typer.Option(help="Report prefix (default: under the workbench home).")
        ] = None,
        org_url: Annotated[str | None, typer.Option(help="Org to reconcile VoiceCalls in.")] = None,
        org_token: Annotated[str | None, typer.Option(help="The org's session id/token.")] = None,
        listen: Annotated[
            str,
            typer.Option(
                help="Record this share of calls, e.g. 10%, and transcribe each after it ends "
                "in another process: the report shows what the agent said on them, the slowest "
                "turns' words, and agent_said / agent_never_said failures (also in Locust's "
                "stats). 0: off."
            ),
        ] = "0",
        listen_vocabulary: Annotated[
            str | None,
            typer.Option(
                help="Comma-separated names the agent says, taught to the listening ear "
                "(default with 'local': the demo agent's vocabulary)."
            ),
        ] = None,
        listen_hold: Annotated[
            bool,
            typer.Option(
                help="With --listen: transcribe the sampled calls when the run stops, not as "
                "each ends (nothing transcribed beside the callers' clock)."
            ),
        ] = False,
        web: Annotated[
            bool, typer.Option(help="Open Locust's web UI instead of headless.")
        ] = False,
        locust_arg: Annotated[
            list[str] | None,
            typer.Option(help="Extra Locust/harness options, e.g. --locust-arg=--arrival-rate=2"),
        ] = None,
    ) -> None:
        """Load-test an agent with synthetic phone calls (Locust in a child process)."""
        if shape is not None and shape not in SHAPES:
            raise ConfigError(f"--shape {shape}: expected one of {', '.join(SHAPES)}")
        if scenarios is not None and not scenarios.exists():
            raise ConfigError(f"--scenarios {scenarios}: no such file or directory")
        local = target == LOCAL
        if local and org_url:
            raise ConfigError(
                "--org-url: the local target writes to the configured org and is reconciled "
                "against it by itself; --org-url is for a target you started yourself"
            )
        if not local:
            check_target(target)
        duration = normalize_duration(duration)
        prefix = report or (
            workbench_home() / "load-reports" / time.strftime("load-%Y%m%d-%H%M%S", time.gmtime())
        )
        extra = list(locust_arg or [])
        if token:
            extra.append(locust_option("--token", token))
        if public_url is not None and not public_url.startswith(("ws://", "wss://")):
            raise ConfigError(f"--public-url {public_url!r}: expected a ws:// or wss:// URL")
        if public_url:
            extra.append(locust_option("--public-url", public_url))
        secrets = {"TWILIO_AUTH_TOKEN": twilio_auth_token} if twilio_auth_token else {}
        if voice:
            extra.append(locust_option("--voice", voice))
        if org_url:
            extra += [locust_option("--org-url", org_url), locust_option("--org-token", org_token)]
        percent = parse_listen(listen)
        if percent > 0:
            extra.append(locust_option("--listen", f"{percent:g}"))
            words = listen_vocabulary
            if words is None and local:
                words = ",".join(demo_vocabulary())
            if words:
                extra.append(locust_option("--listen-vocabulary", words))
            if listen_hold:
                extra.append("--listen-hold")

        def run(url: str) -> int:
            cmd = locust_command(
                url,
                users=None if shape else users,
                spawn_rate=None if shape else spawn_rate,
                duration=None if shape or web else duration,
                report_prefix=prefix,
                scenarios=scenarios,
                processes=processes,
                headless=not web,
                extra=extra,
            )
            return run_locust(cmd, shape=shape, extra_env=secrets)

        if local:
            server = local_server(prefix.with_name(prefix.name + "_server.log"), env=secrets)
            typer.echo(
                f"local: starting the demo agent (workbench serve) at {server.url} for "
                f"this run, log {server.log_path}"
            )
            with _sigterm_raises(), server, contextlib.ExitStack() as stack:
                org = _org_of_local_target(stack)
                if org is not None:
                    typer.echo(f"local: reconciling VoiceCalls in the org at {org[0]}")
                    extra += [
                        locust_option("--org-url", org[0]),
                        locust_option("--org-token", org[1]),
                    ]
                code = run(server.url)
        else:
            code = run(target)
        result = read_report(prefix)
        typer.echo("\n".join(summary_lines(result)))
        typer.echo(f"report: {prefix}.html (+ .json, _exact.csv, _samples.csv)")
        if code not in (0, 1):
            raise WorkbenchError(f"locust exited with code {code}")

    @bench.command("load")
    def bench_load(
        calls: Annotated[
            str, typer.Option(help="Concurrent calls per step, comma-separated.")
        ] = "100,200,300,500",
        seconds: Annotated[int, typer.Option(help="Steady-state seconds per step.")] = 20,
        processes: Annotated[int, typer.Option(help="Locust processes.")] = 1,
        listen: Annotated[
            str,
            typer.Option(
                help="Also run each step with this share of calls listened to (e.g. 10%): "
                "pacing lateness without and with listening, side by side."
            ),
        ] = "0",
        listen_hold: Annotated[
            bool, typer.Option(help="With --listen: transcribe at the end.")
        ] = False,
    ) -> None:
        """The generator alone against a trivial local agent: pacing lateness and CPU per N."""
        steps = [int(n) for n in calls.split(",") if n.strip()]
        percent = parse_listen(listen)
        curve = []
        with TrivialTarget() as target, tempfile.TemporaryDirectory() as tmp:

            def step(n: int, extra: list[str], load_s: int = 0) -> dict[str, Any]:
                prefix = Path(tmp) / f"bench-{n}-{len(extra)}"
                spawn = max(50, n // 2)
                ramp_s = n / spawn
                load_average = [round(x, 2) for x in os.getloadavg()]  # as `uptime` shows it
                before = target.cpu_seconds()
                started = time.perf_counter()
                cmd = locust_command(
                    target.url,
                    users=n,
                    spawn_rate=spawn,
                    # ramp-up, 2 s of settling (not measured, loadtests/greenlet_pacer.SETTLE_S),
                    # the steady state, and a little slack for the stop
                    duration=f"{int(load_s + ramp_s + 2 + seconds + 1)}s",
                    report_prefix=prefix,
                    processes=processes,
                    extra=[
                        *("--voice", "synthetic", "--think-time", "0", "--max-lateness-ms", "5"),
                        *extra,
                    ],
                )
                run_locust(cmd, quiet=True)
                wall = time.perf_counter() - started
                after = target.cpu_seconds()
                report = read_report(prefix)
                check = report["self_check"]
                procs = check["processes"]
                entry = {
                    "calls": n,
                    "processes": processes,
                    "lateness_ms": check["lateness_ms"],
                    "ramp_lateness_p99_ms": max(
                        (p["ramp_lateness_ms"]["p99"] for p in procs), default=None
                    ),
                    "generator_cpu_percent": [p["cpu_percent"]["median"] for p in procs],
                    "messages_per_s": round(sum(p["messages_per_s"] for p in procs)),
                    "max_calls_seen": sum(p["max_calls"] for p in procs),
                    "target_cpu_percent": (
                        round(100.0 * (after - before) / wall, 1)
                        if before is not None and after is not None
                        else None
                    ),
                    "load_average_before": load_average,
                    "calls_completed": report["calls"]["completed"],
                    "calls_failed": report["calls"]["failed"],
                    "valid_at_5ms": check["valid"],
                }
                if "listened" in report:
                    heard = report["listened"]
                    entry["listened"] = {
                        k: heard[k] for k in ("percent", "sampled", "transcribed", "heard_in_s")
                    }
                return entry

            for n in steps:
                curve.append(step(n, []))
                typer.echo(json.dumps(curve[-1]), err=True)
                if percent > 0:
                    # The same step with listening, right after: side by side on the same
                    # machine; a bounded wait for the transcripts at the end (not measured).
                    hold = ["--listen-hold"] if listen_hold else []
                    flags = [f"--listen={percent:g}", "--listen-wait=60", *hold]
                    listening = step(n, flags, load_s=30)  # (models load before any call)
                    typer.echo(json.dumps(listening), err=True)
                    curve[-1] = {"without_listening": curve[-1], "with_listening": listening}
        typer.echo(
            json.dumps(
                {"bench": "load", "seconds": seconds, "listen_percent": percent, "curve": curve},
                indent=2,
            )
        )
