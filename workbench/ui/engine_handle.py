"""The GUI's commands to the engine, run on the engine's own threads (no Qt here).

`EngineHandle` owns three single-worker executors so no long job ever runs on the GUI thread:
`engine` (agent loading, calls, scenario runs, agent reloads — one at a time, since they share
the loaded speech stack), `speech` (rendering typed lines in the caller's TTS voice) and `crm`
(the CRM sink: writing a finished call, waiting for delivery, reading the records back).
Everything it learns it hands to `post(message)` — the bridge's thread-safe queue — as engine
events or `workbench.ui.messages` objects.

The engine's modules (scipy, the speech stack) are imported on the engine thread, not here, so
the window is up before they have loaded.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from workbench.audio.network import NetworkConditions
from workbench.engine import events as ev
from workbench.errors import WorkbenchError
from workbench.ui import messages as msg
from workbench.ui.audio_io import level_dbfs
from workbench.ui.crm_link import CrmLink

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallOptions:
    """How to place a call from the softphone."""

    number: str = "+14155550199"
    caller_voice: str = "piper:joe"  # the engine's DEFAULT_CALLER_VOICE
    target_url: str | None = None  # a deployed agent's WebSocket URL; None = the local agent
    ear: str | None = None  # how the local agent listens; None: the agent's `ear:`, else accurate


# Where a designer listens, the accurate ear unless the agent or the call panel says otherwise.
DEFAULT_EAR = "accurate"


def telephony_client_available() -> bool:
    """True once the Twilio-faithful client (`workbench.telephony.caller.client`) exists."""
    import importlib.util

    return importlib.util.find_spec("workbench.telephony.caller.client") is not None


def split_problems(message: str) -> tuple[tuple[int | None, str], ...]:
    """ "file:12: field: why; file:40: other: why" → ((12, "field: why"), (40, "other: why"))."""
    import re

    found = re.findall(r"(?:^|; )[^;]*?:(\d+): (.*?)(?=; [^;]*?:\d+: |$)", message)
    if not found:
        return ((None, message),)
    return tuple((int(line), text) for line, text in found)


class RemoteCaller:
    """The softphone's caller for a deployed agent: the same commands, over the client."""

    def __init__(self, client: Any, render: Callable[[str], np.ndarray]) -> None:
        self.client = client
        self._render = render
        self.muted = False
        self.on_hold = False

    def say_text(self, text: str) -> None:
        if not (self.muted or self.on_hold):
            self.client.send_audio(self._render(text))

    def play_pcm(self, pcm8k: np.ndarray, label: str = "") -> None:
        if not (self.muted or self.on_hold):
            self.client.send_audio(pcm8k)

    def push_microphone(self, pcm8k: np.ndarray) -> None:
        if not (self.muted or self.on_hold):
            self.client.send_audio(pcm8k)

    def press(self, digit: str) -> None:
        self.client.press(digit)

    def set_network(self, conditions: Any) -> None:
        """A real network leg: the sliders shape only the local agent's simulated leg."""

    def hang_up(self) -> None:
        self.client.hang_up()


def gui_call_log_path() -> Path:
    """The GUI's call log: one line per finished call, as `serve`'s (`engine.scorecard`)."""
    from workbench.paths import workbench_home

    return workbench_home() / "gui" / "calls.jsonl"


def append_call_log(path: Path, card: Any, result: Any, agent_path: Any) -> None:
    import json

    from workbench.engine.scorecard import call_log_line

    agent = getattr(result, "agent_name", "") or Path(str(agent_path)).name
    line = call_log_line(card, result, agent=agent, started_at=datetime.now(UTC).isoformat())
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as log_file:
        log_file.write(json.dumps(line, default=str) + "\n")


class EngineHandle:
    """Commands in (any method, from the GUI thread), events and messages out via `post`."""

    def __init__(
        self,
        runtime: Any,
        post: Callable[[Any], None],
        *,
        agent_path: str | Path | None = None,
        post_level: Callable[[str, float], None] | None = None,
        crm: bool = True,
        preload_voices: tuple[str, ...] = (),
    ) -> None:
        self.runtime = runtime  # a CallRuntime, or None to create one on the engine thread
        self.agent_path = Path(agent_path) if agent_path else None
        self._post = post
        self._post_level = post_level or (lambda name, value: None)
        self._engine = ThreadPoolExecutor(max_workers=1, thread_name_prefix="engine")
        self._speech = ThreadPoolExecutor(max_workers=1, thread_name_prefix="helper")
        self.crm = CrmLink(post)  # the CRM sink and the OTLP export, on their own thread
        self._preload = ThreadPoolExecutor(max_workers=1, thread_name_prefix="preload")
        self._preload_voices = preload_voices
        self._crm_enabled = crm
        self._verifier: Any = None
        self._closing = False
        self._events_seen = 0
        self._lock = threading.Lock()
        self._caller: Any = None  # the InteractiveCaller of the call in progress
        self._driver: Any = None
        self._cancelled = False
        self._network = NetworkConditions.clean()
        self.audio: Any = None  # a SoundcardAudio when devices are in use
        self.agent_name = ""
        self.voices: list[str] = []

    # lifecycle ----------------------------------------------------------------------------
    def load(self) -> Future:
        """Load the agent and its speech stack (seconds) on the engine thread, and open the CRM
        sink on its own thread meanwhile: its imports and org start-up hold the GIL for a while,
        which is harmless now and would stall the window during a call's after-call work."""
        if self._crm_enabled:
            self.crm.refresh()
        for voice in self._preload_voices:
            # Piper's network takes seconds to load and onnxruntime releases the GIL while it
            # does: loading it beside the agent makes the app ready seconds sooner.
            self._preload.submit(_preload_voice, voice)
        return self._engine.submit(self._load)

    def shutdown(self) -> None:
        """End any call, cancel queued work and join every thread this handle started."""
        self._closing = self.crm.closing = True
        self.hang_up()
        self._engine.shutdown(wait=True, cancel_futures=True)
        self._speech.shutdown(wait=True, cancel_futures=True)
        self.crm.pool.shutdown(wait=True, cancel_futures=True)
        self._preload.shutdown(wait=True, cancel_futures=True)
        # Every worker has stopped: closing from this thread cannot race them.
        self._close_verifier()
        self.crm.close_sink()
        if self.audio is not None:
            self.audio.stop()

    # softphone ----------------------------------------------------------------------------
    @property
    def in_call(self) -> bool:
        return self._caller is not None

    def place_call(self, options: CallOptions) -> Future:
        self._cancelled = False
        self._post(msg.CallStateChanged(msg.RINGING, options.target_url or "local agent"))
        if options.target_url:
            return self._engine.submit(self._run_remote_call, options)
        return self._engine.submit(self._run_local_call, options)

    def say(self, text: str) -> None:
        """Speak a typed line as the caller (rendered off the GUI thread)."""
        caller = self._caller
        if caller is not None and text.strip():
            self._speech.submit(caller.say_text, text.strip())
            if isinstance(caller, RemoteCaller):  # no engine events come back: echo the line
                self._post(msg.RemoteProgress(f"caller says: {text.strip()}"))

    def play_wav(self, path: str | Path) -> None:
        """Play a WAV file into the call as the caller's voice (resampled to 8 kHz)."""
        caller = self._caller
        if caller is not None:
            self._speech.submit(self._play_wav, caller, Path(path))

    def press(self, digit: str) -> None:
        if self._caller is not None:
            self._caller.press(digit)

    def set_muted(self, muted: bool) -> None:
        if self._caller is not None:
            self._caller.muted = muted

    def set_on_hold(self, on_hold: bool) -> None:
        if self._caller is not None:
            self._caller.on_hold = on_hold
            self._post(msg.CallStateChanged(msg.ON_HOLD if on_hold else msg.CONNECTED))

    def prepare_ear(self, ear: str) -> None:
        """Load what `ear` needs (Whisper for the accurate ear: 1-2 s) on the engine thread,
        where it shares the loaded stack safely, before the next call rather than in it."""
        if ear == "accurate":
            self._engine.submit(self._load_final_pass)

    def _load_final_pass(self) -> None:
        try:
            self.runtime.stack(self.runtime.agent(self.agent_path)).final_pass()
        except Exception as error:  # noqa: BLE001 (the call that needs it reports it)
            log.warning("loading the accurate ear failed: %s", error)

    def set_network(self, conditions: NetworkConditions) -> None:
        """Applied to the caller's leg from the next 20 ms frame, and to later calls."""
        self._network = conditions
        if self._caller is not None:
            self._caller.set_network(conditions)

    def hang_up(self) -> None:
        self._cancelled = True
        if self._caller is not None:
            self._caller.hang_up()

    # scenarios and agent ----------------------------------------------------------------
    def run_scenarios(self, paths: list[Path], on_event: Callable[[Any], None] | None = None):
        """Run scenario files one after another in virtual time on the engine thread."""
        return [self._engine.submit(self._run_scenario, Path(p), on_event) for p in paths]

    def list_scenarios(self, directory: Path) -> Future:
        """Find and parse the suite (pydantic, YAML) off the GUI thread; posts `ScenarioSuite`."""
        return self._speech.submit(self._list_scenarios, Path(directory))

    def reload_agent(self, path: str | Path) -> Future:
        """Forget the loaded agent and load the edited files (after any running call)."""
        return self._engine.submit(self._reload_agent, Path(path))

    def validate_agent(self, text: str, definition_path: str | Path) -> Future:
        """Check an edited agent.yaml without saving it; posts `AgentValidated`."""
        return self._speech.submit(self._validate_agent, text, Path(definition_path))

    def run_scripted_call(
        self, lines: list[str], *, realtime: bool = False, ear: str | None = None
    ) -> Future:
        """A demo call that says `lines` (virtual time by default), with CRM write-back."""
        return self._engine.submit(self._run_scripted_call, lines, realtime, ear)

    # engine thread ----------------------------------------------------------------------
    def _load(self) -> None:
        try:
            if self.runtime is None:
                from workbench.engine.calls import CallRuntime

                self.runtime = CallRuntime()
            from workbench.speech.tts import list_voices

            self.voices = list_voices()
            agent = self.runtime.agent(self.agent_path)
            stack = self.runtime.stack(agent)
            ear = getattr(agent.definition, "ear", None) or DEFAULT_EAR
            if ear == "accurate":
                # Load the final pass's workers now, while the window says it is loading: a
                # worker still loading beside a live sound-card call cost it microphone
                # blocks (22 dropped; "what are your opening hours" heard as "what are you
                # opening now ed").
                stack.final_pass().wait_ready()
            self.agent_name = agent.name
            self._post(
                msg.RuntimeReady(
                    agent.name,
                    str(agent.directory),
                    tuple(self.voices),
                    ear=getattr(agent.definition, "ear", None) or "",
                )
            )
        except WorkbenchError as error:
            self._post(msg.RuntimeReady(error=str(error)))
        except Exception as error:  # shown in the window instead of killing the engine thread
            log.exception("agent failed to load")
            self._post(msg.RuntimeReady(error=f"{type(error).__name__}: {error}"))

    def _run_local_call(self, options: CallOptions) -> None:
        from workbench.engine.caller import InteractiveCaller
        from workbench.engine.calls import call_id_for, run_call

        if self._cancelled:
            self._post(msg.CallStateChanged(msg.ENDED, "cancelled before connecting"))
            return
        try:
            agent = self.runtime.agent(self.agent_path)
            stack = self.runtime.stack(agent)
            tts = stack.caller_tts(options.caller_voice)
            caller = InteractiveCaller(
                lambda text: tts.render_pcm(text, 8000),
                number=options.number,
                on_heard=self._on_heard,
            )
            caller.set_network(self._network)
            with self._lock:
                self._caller = caller
            if self.audio is not None:
                self.audio.start(caller)
            result = run_call(
                self.runtime,
                lambda _stack: caller,
                agent_path=self.agent_path,
                network=self._network,
                seed=int(time.time()) % 100_000,
                call_id=call_id_for("softphone", time.time_ns()),
                realtime=True,
                on_event=self._on_event,
                on_driver=self._keep_driver,
                ear=options.ear,
                default_ear=DEFAULT_EAR,
            )
        except Exception as error:
            log.exception("call failed")
            self._post(msg.CallFinished(error=f"{type(error).__name__}: {error}"))
            self._post(msg.CallStateChanged(msg.ENDED, "call failed"))
            return
        finally:
            if self.audio is not None:
                self.audio.stop()
            with self._lock:
                self._caller = None
                self._driver = None
        self._finish(result)

    def _run_remote_call(self, options: CallOptions) -> None:
        """Call a deployed agent over Media Streams; the caller side is all we can observe."""
        from workbench.telephony.caller.client import MediaStreamClient
        from workbench.telephony.caller.pacer import Pacer
        from workbench.telephony.caller.results import NOT_APPLICABLE_OVERLAP

        agent = self.runtime.agent(self.agent_path)
        tts = self.runtime.stack(agent).caller_tts(options.caller_voice)
        client = MediaStreamClient(
            str(options.target_url),
            caller_number=options.number,
            on_agent_audio=lambda pcm, _t: self._on_heard(pcm),
        )
        try:
            client.connect()
        except Exception as error:  # refused, DNS, TLS, handshake: say which, in one line
            self._post(msg.RemoteProgress(f"could not connect to {options.target_url}: {error}"))
            self._post(msg.CallStateChanged(msg.ENDED, "could not connect"))
            return
        pacer = Pacer([client]).start()
        caller = RemoteCaller(client, lambda text: tts.render_pcm(text, 8000))
        with self._lock:
            self._caller = caller
        self._post(msg.CallStateChanged(msg.CONNECTED, str(options.target_url)))
        self._post(msg.RemoteProgress(f"connected to {options.target_url} ({client.call_sid})"))
        reported = 0
        untimed = 0  # turns the agent talked through: no reply time (client.NOT_APPLICABLE_…)
        try:
            while not client.closed.is_set() and not self._cancelled:
                client.wait_until(lambda: client.closed.is_set(), 0.2)
                latencies = list(client.results.turn_latencies_ms)
                for latency in latencies[reported:]:
                    reported += 1
                    self._post(
                        msg.RemoteProgress(
                            f"turn {reported + untimed}: the reply was heard {latency:.0f} ms "
                            "after the caller stopped",
                            client.now_ms(),
                        )
                    )
                overlaps = client.results.not_applicable.get(NOT_APPLICABLE_OVERLAP, 0)
                while untimed < overlaps:
                    untimed += 1
                    self._post(
                        msg.RemoteProgress(
                            f"turn {reported + untimed}: not timed — the agent was still "
                            "speaking when the caller stopped",
                            client.now_ms(),
                        )
                    )
        finally:
            client.hang_up()
            pacer.stop()
            with self._lock:
                self._caller = None
        errors = client.results.protocol_errors
        ending = f"call ended ({client.results.close_reason or 'hung up'})"
        if errors:
            ending += f"; protocol errors: {'; '.join(errors[:3])}"
        self._post(msg.RemoteProgress(ending, client.now_ms()))
        self._post(msg.CallStateChanged(msg.ENDED, client.results.close_reason))

    def _run_scripted_call(self, lines: list[str], realtime: bool, ear: str | None) -> None:
        from workbench.engine.calls import call_id_for, run_call, say_lines_caller

        self._post(msg.CallStateChanged(msg.RINGING, "scripted caller"))
        try:
            result = run_call(
                self.runtime,
                say_lines_caller(lines),
                agent_path=self.agent_path,
                call_id=call_id_for("scripted", time.time_ns()),
                network=self._network,
                realtime=realtime,
                on_event=self._on_event,
                ear=ear,
                default_ear=DEFAULT_EAR,
            )
        except Exception as error:
            log.exception("scripted call failed")
            self._post(msg.CallFinished(error=f"{type(error).__name__}: {error}"))
            return
        self._finish(result)

    def _finish(self, result: Any) -> None:
        scorecard, trace_path = self._judge(result)
        self._post(msg.CallFinished(result, scorecard=scorecard, trace_path=trace_path))
        if self._crm_enabled and not self._closing:
            self._post(msg.CallStateChanged(msg.AFTER_CALL_WORK, "writing the call to the CRM"))
            self.crm.pool.submit(self.crm.write_call, result)
        else:
            self._post(msg.CallStateChanged(msg.ENDED, result.end_reason))

    def _judge(self, result: Any) -> tuple[Any, str]:
        """A GUI call gets what every face gives a call: its scorecard (`engine.scorecard`),
        a line in the GUI's call log (the Analytics panel and `workbench report` read it), a
        Chrome/Perfetto trace under `<workbench home>/traces/`, and an OTLP trace when
        `OTEL_EXPORTER_OTLP_ENDPOINT` is set (sent off this thread)."""
        from workbench.engine.otel import CallTrace, otlp_enabled
        from workbench.engine.scorecard import scorecard_for
        from workbench.engine.trace import write_chrome_trace
        from workbench.paths import workbench_home

        scorecard = trace_path = None
        try:
            scorecard = scorecard_for(result)
            append_call_log(gui_call_log_path(), scorecard, result, self.agent_path)
            directory = workbench_home() / "traces"
            directory.mkdir(parents=True, exist_ok=True)
            trace_path = directory / f"{result.call_id}.trace.json"
            write_chrome_trace(trace_path, result.timelines, result.call_id)
        except Exception:  # judging a call must never lose the call itself
            log.exception("call %s: no scorecard or trace", result.call_id)
        if otlp_enabled() and not self._closing:
            resolution = scorecard.resolution if scorecard is not None else ""
            trace = CallTrace.of(result, resolution=resolution)
            self.crm.pool.submit(self._export_trace, trace)
        return scorecard, str(trace_path or "")

    @staticmethod
    def _export_trace(trace: Any) -> None:
        from workbench.engine.otel import export_calls

        problem = export_calls([trace])
        if problem:
            log.warning("call %s: %s", trace.call_id, problem)

    def _keep_driver(self, driver: Any) -> None:
        self._driver = driver

    def _on_event(self, event: ev.Event) -> None:
        if isinstance(event, ev.CallStarted):
            self._post(msg.CallStateChanged(msg.CONNECTED, event.agent))
        self._post(event)

    def _on_heard(self, pcm: np.ndarray) -> None:
        # Driver thread, every 20 ms: a cheap level for the meter (coalesced by the bridge).
        self._post_level("speaker", level_dbfs(pcm))
        if self.audio is not None:
            self.audio.hear(pcm)

    def _play_wav(self, caller: Any, path: Path) -> None:
        from workbench.audio.resample import resample
        from workbench.audio.wav import read_wav

        try:
            audio = read_wav(path)
        except WorkbenchError as error:
            self._post(msg.StatusNote(str(error)))
            return
        pcm = resample(audio.samples, audio.sample_rate, 8000)
        caller.play_pcm(pcm, path.name)
        self._post(msg.StatusNote(f"playing {path.name} ({audio.duration_s:.1f} s) into the call"))

    def _run_scenario(self, path: Path, on_event: Callable[[Any], None] | None) -> None:
        from workbench.scenario.runner import run_scenario
        from workbench.scenario.schema import load_scenario
        from workbench.ui.scenario_verdict import verdict

        self._post(msg.ScenarioStarted(str(path)))
        try:
            scenario = load_scenario(path)
            result = run_scenario(
                scenario, self.runtime, on_event=on_event, crm_check=self._crm_verifier()
            )
        except WorkbenchError as error:
            self._post(msg.ScenarioFinished(str(path), path.stem, False, error=str(error)))
            return
        except Exception as error:
            log.exception("scenario %s failed to run", path)
            self._post(
                msg.ScenarioFinished(
                    str(path), path.stem, False, error=f"{type(error).__name__}: {error}"
                )
            )
            return
        self._post(verdict(str(path), result))

    def _list_scenarios(self, directory: Path) -> None:
        from workbench.scenario.schema import find_scenarios, load_scenario

        try:
            paths = find_scenarios([directory])
        except WorkbenchError as error:
            self._post(msg.ScenarioSuite(error=str(error)))
            return
        entries = []
        for path in paths:
            try:
                scenario = load_scenario(path)
                entries.append(
                    (str(path), scenario.name, ", ".join(scenario.tags), scenario.description, "")
                )
            except WorkbenchError as error:
                entries.append((str(path), path.stem, "", "", str(error)))
            except Exception as error:  # a scenario file the schema chokes on: show it, go on
                entries.append((str(path), path.stem, "", "", f"{type(error).__name__}: {error}"))
        self._post(msg.ScenarioSuite(tuple(entries)))

    def _validate_agent(self, text: str, definition_path: Path) -> None:
        import tempfile

        from workbench.agent.definition import load_definition

        with tempfile.TemporaryDirectory(prefix="agent-check-") as folder:
            draft = Path(folder) / definition_path.name
            draft.write_text(text, encoding="utf-8")
            try:
                load_definition(draft)
            except WorkbenchError as error:
                message = str(error).replace(str(draft), str(definition_path))
                self._post(msg.AgentValidated(str(definition_path), split_problems(message)))
                return
        self._post(msg.AgentValidated(str(definition_path), ()))

    def _crm_verifier(self) -> Any:
        """The scenario runner's own throwaway org for `crm` expectations (None: they skip)."""
        if not self._crm_enabled:
            return None
        if self._verifier is None:
            from workbench.scenario.crm_check import CrmVerifier

            self._verifier = CrmVerifier()
        return self._verifier

    def _close_verifier(self) -> None:
        if self._verifier is not None:
            self._verifier.close()
            self._verifier = None

    def _reload_agent(self, path: Path) -> None:
        try:
            agent = self.runtime.reload_agent(path)
            self.runtime.stack(agent)
            self.agent_path = Path(agent.directory)
            self.agent_name = agent.name
            self._post(msg.AgentReloaded(agent.name))
        except WorkbenchError as error:
            self._post(msg.AgentReloaded(error=str(error)))
        except Exception as error:
            log.exception("agent reload failed")
            self._post(msg.AgentReloaded(error=f"{type(error).__name__}: {error}"))


def _preload_voice(voice: str) -> None:
    """Load a voice's model now (any failure is reported by the load that needs it)."""
    try:
        from workbench.speech.tts import load_synthesizer

        load_synthesizer(voice).sample_rate  # noqa: B018 (piper loads its network lazily)
    except Exception as error:  # noqa: BLE001
        log.debug("preloading voice %s failed: %s", voice, error)
