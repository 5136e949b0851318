"""Speech commands: `say`, `transcribe`, `bench speech`, `bench vad`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @app.command()
    def say(
        text: Annotated[str, typer.Argument(help="What to say.")],
        output: Annotated[Path, typer.Option("-o", "--output", help="WAV file to write.")],
        voice: Annotated[
            str,
            typer.Option(
                help="Voice, e.g. espeak:en-us+klatt3 or piper:joe (see `workbench voices`)."
            ),
        ] = "espeak:en-us+klatt3",
        telephone: Annotated[
            bool,
            typer.Option("--telephone", help="Write 8 kHz μ-law, as it crosses the phone line."),
        ] = False,
        rate: Annotated[int | None, typer.Option(help="Speaking rate in words per minute.")] = None,
        pitch: Annotated[int | None, typer.Option(help="Pitch 0-100 (espeak voices).")] = None,
        lexicon: Annotated[
            Path | None, typer.Option(help="Pronunciation lexicon YAML applied before synthesis.")
        ] = None,
    ) -> None:
        """Synthesise TEXT to a WAV file."""
        from workbench.speech.say_cli import run_say

        summary = run_say(
            text, output, voice=voice, telephone=telephone, rate=rate, pitch=pitch, lexicon=lexicon
        )
        typer.echo(summary)

    @app.command()
    def transcribe(
        audio: Annotated[Path, typer.Argument(help="WAV file at any supported rate.")],
        agent: Annotated[
            Path | None, typer.Option(help="Agent directory whose examples bias recognition.")
        ] = None,
        lm_sentences: Annotated[
            Path | None,
            typer.Option(
                "--lm-sentences", help="Plain text, one sentence a line: build a domain LM."
            ),
        ] = None,
        ear: Annotated[
            str,
            typer.Option(
                help="fast (pocketsphinx streaming) or accurate (plus a Whisper base final pass)."
            ),
        ] = "accurate",
        backend: Annotated[
            str | None,
            typer.Option(help="One recogniser alone instead of an ear: pocketsphinx or whisper."),
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Recognise speech in a WAV file, streaming it in 20 ms frames."""
        from workbench.speech.transcribe_cli import run_transcribe

        result = run_transcribe(
            audio, agent=agent, lm_sentences=lm_sentences, backend=backend, ear=ear
        )
        if as_json:
            typer.echo(json.dumps(result))
        else:
            typer.echo(result["text"])

    @bench.command("speech")
    def bench_speech(
        quick: Annotated[bool, typer.Option(help="Fewer sentences and repetitions.")] = False,
    ) -> None:
        """Per-frame costs, real-time factors, time to first audio and WER of the speech stack."""
        from workbench.speech.bench import run_speech_bench

        typer.echo(json.dumps(run_speech_bench(quick=quick), indent=2))

    @bench.command("vad")
    def bench_vad(
        quick: Annotated[bool, typer.Option(help="A third of the clips (a smoke run).")] = False,
        detector: Annotated[
            list[str] | None,
            typer.Option(
                help="Detector (repeatable): webrtcvad, webrtcvad+energy, silero, silero+energy."
            ),
        ] = None,
    ) -> None:
        """Voice-onset detectors for barge-in on labelled noisy lines: onset latency, false fires."""
        from workbench.errors import ConfigError
        from workbench.speech.vad_bench import DETECTORS, run_vad_bench

        chosen = detector or list(DETECTORS)
        unknown = [name for name in chosen if name not in DETECTORS]
        if unknown:
            raise ConfigError(
                f"unknown detector {unknown[0]!r}: expected one of {', '.join(DETECTORS)}"
            )
        report = run_vad_bench(
            quick=quick, detectors=chosen, progress=lambda m: typer.echo(m, err=True)
        )
        typer.echo(json.dumps(report, indent=2))
