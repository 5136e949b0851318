"""Agent commands: `workbench classify` (utterances in, JSON lines out) and `workbench chat`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from workbench.paths import DEMO_AGENT_DIR

AGENT_OPTION = typer.Option(
    DEMO_AGENT_DIR, "--agent", help="Agent directory (agent.yaml + knowledge/)."
)


def register(app: typer.Typer, bench: typer.Typer) -> None:
    new = typer.Typer(
        help="Start something new from a working example.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.add_typer(new, name="new")

    @new.command("agent")
    def new_agent_command(
        directory: Annotated[Path, typer.Argument(help="The folder to create (new or empty).")],
        company: Annotated[
            str, typer.Option(help="The business the agent answers for.")
        ] = "Acme Services",
    ) -> None:
        """Create a small working agent: three topics, a knowledge file, a lexicon and three
        scenarios that pass with `workbench run DIR/scenarios`."""
        from workbench.agent.scaffold import new_agent

        written = new_agent(directory, company)
        for path in written:
            print(f"wrote {path}")
        print(f"next: workbench check {directory} && workbench run {directory / 'scenarios'}")

    @app.command()
    def classify(agent: Path = AGENT_OPTION) -> None:
        """Classify utterances read from stdin, one per line; print one JSON object per line."""
        from workbench.agent import load_agent

        loaded = load_agent(agent)
        for line in sys.stdin:
            text = line.strip()
            if not text:
                continue
            u = loaded.understand(text)
            entities = [
                {"type": e.type, "value": e.value, "start": e.start, "end": e.end}
                for e in u.entities
            ]
            record = {
                "text": text,
                "topic": u.topic,
                "confidence": u.confidence,
                "entities": entities,
            }
            print(json.dumps(record), flush=True)

    @app.command()
    def chat(
        agent: Path = AGENT_OPTION,
        show_plan: bool = typer.Option(
            False, "--show-plan", help="Also print why the agent replied so."
        ),
    ) -> None:
        """Talk to the agent in text (for designers). EOF or 'bye' ends the conversation.

        '/keys 4111111111111111#' presses keypad keys (card payments); '/silence' stands for
        the caller saying nothing (the no-input ladder).
        """
        from rich.console import Console
        from rich.markup import escape

        from workbench.agent import load_agent
        from workbench.agent.speakable import shown_text

        console = Console(highlight=False)
        loaded = load_agent(agent)
        conversation = loaded.new_conversation()
        console.print(
            f"[bold]{escape(loaded.name)}:[/] {escape(' '.join(loaded.greet(conversation).sentences))}"
        )
        while not conversation.ended:
            try:
                text = input("you: ").strip()
            except EOFError:
                break
            if not text:
                continue
            if text.lower() in ("bye", "goodbye", "quit", "exit"):
                console.print(
                    f"[bold]{escape(loaded.name)}:[/] {escape(loaded.definition.goodbye)}"
                )
                break
            if text.startswith("/keys"):
                replies = [loaded.on_dtmf(conversation, key) for key in text[5:].strip()]
                reply = next((r for r in replies if r is not None), None)
                if reply is None:
                    console.print("[dim]  (keys taken; the agent is still collecting)[/]")
                    continue
                info = "keypad entry"
            elif text == "/silence":
                reply = loaded.no_input(conversation)
                info = f"no input ({conversation.failed_turns} in a row)"
            else:
                understanding, reply = loaded.respond(conversation, text)
                info = f"topic {understanding.topic} ({understanding.confidence:.2f})"
            said = " ".join(shown_text(sentence) for sentence in reply.sentences)
            console.print(f"[bold]{escape(loaded.name)}:[/] {escape(said)}")
            if reply.routing:
                info += f", routing {reply.routing}"
            if reply.actions:
                info += ", actions " + ", ".join(a.kind for a in reply.actions)
            console.print(f"[dim]  {escape(info)}[/]")
            if show_plan:
                console.print(f"[dim]  plan: {escape(reply.plan)}[/]")

    @app.command()
    def voices() -> None:
        """List the voices an agent (`voice:`) or a scripted caller (`caller: voice:`) can use."""
        from workbench.speech.tts import DEFAULT_VOICE, list_voices
        from workbench.speech.tts_espeak import espeak_variants

        for name in list_voices():
            print(name + ("  (default caller voice)" if name == DEFAULT_VOICE else ""))
        print(
            "any espeak voice with a variant also works, 'espeak:<voice>+<variant>'; variants: "
            + ", ".join(espeak_variants())
        )

    @bench.command("agent")
    def bench_agent(
        agent: Path = AGENT_OPTION,
        repeat: int = typer.Option(200, help="Utterance passes for the per-call timings."),
        speech: bool = typer.Option(
            True,
            "--speech/--no-speech",
            help="Also speak the held-out utterances (piper, telephone path) and classify what "
            "each ear heard.",
        ),
        quick: bool = typer.Option(
            False, "--quick", help="Speech part: one held-out utterance per topic."
        ),
    ) -> None:
        """Agent load time, per-utterance understanding/retrieval cost and topic accuracy, from
        text and from what each ear heard (JSON)."""
        import logging

        from workbench.agent.bench import run_agent_benchmark

        report = run_agent_benchmark(agent, repeat)
        if speech:
            # In the engine: it needs both the agent and the speech stack.
            from workbench.engine.topic_speech_bench import run_topic_speech_bench

            logging.getLogger("workbench.engine.topic_speech_bench").setLevel(logging.INFO)
            report["speech"] = run_topic_speech_bench(agent, quick=quick)
        print(json.dumps(report, indent=2))
