"""`workbench run`: scripted calls through the whole audio pipeline, judged by expectations."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from workbench.speech.ears import EAR_HELP, check_ear


def register(app: typer.Typer, bench: typer.Typer) -> None:
    @bench.command("scorecard")
    def bench_scorecard(
        repeats: Annotated[int, typer.Option(min=1, help="Timings per call.")] = 50,
    ) -> None:
        """CPU to score a finished call and build its trace, beside the call's own CPU."""
        from workbench.scenario.scorecard_bench import run_scorecard_bench

        typer.echo(json.dumps(run_scorecard_bench(repeats=repeats), indent=2))

    @app.command()
    def check(
        paths: Annotated[
            list[Path], typer.Argument(help="Agent directories, scenario files or directories.")
        ],
    ) -> None:
        """Check agents and scenarios together before a run: every file parses, every field is
        known, every topic, slot, knowledge file and voice named exists. Exit 2 on a problem."""
        from workbench.errors import InputFileError
        from workbench.scenario.check import check_paths

        result = check_paths(paths)
        if result.problems:
            count = len(result.problems)
            raise InputFileError(
                "\n".join(result.problems) + f"\n{count} problem{'s' if count != 1 else ''} found"
            )
        print(
            f"ok: {len(result.agents)} agent(s), {len(result.scenarios)} scenario(s), no problems"
        )

    @app.command()
    def compare(
        base: Annotated[
            Path, typer.Argument(help="The base run: `run --json` file or a directory of them.")
        ],
        new: Annotated[
            Path, typer.Argument(help="The new run: `run --json` file or a directory of them.")
        ],
        max_latency_regression: Annotated[
            float,
            typer.Option(
                "--max-latency-regression",
                min=0.0,
                help="Exit 1 when p95 turn latency grew by more than PCT percent.",
                metavar="PCT",
            ),
        ] = 10.0,
        html_out: Annotated[
            Path | None, typer.Option("--html", help="Write the comparison as HTML.")
        ] = None,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the comparison as JSON.")
        ] = None,
    ) -> None:
        """Compare two runs: verdict changes, turn-latency deltas, scorecard deltas. Exit 1 when
        a scenario regressed (pass → fail) or p95 turn latency grew by more than PCT."""
        from workbench.scenario.compare import compare as compare_runs
        from workbench.scenario.compare import html_report, load_side, text_report

        result = compare_runs(
            load_side(base), load_side(new), max_latency_regression_pct=max_latency_regression
        )
        for line in text_report(result):
            print(line)
        if html_out is not None:
            html_out.write_text(html_report(result), encoding="utf-8")
            print(f"wrote {html_out}")
        if json_out is not None:
            json_out.write_text(json.dumps(result.to_dict(), indent=1))
            print(f"wrote {json_out}")
        if result.regressed:
            raise typer.Exit(1)

    @app.command()
    def report(
        paths: Annotated[
            list[Path],
            typer.Argument(help="Run files (`run --json`), serve's calls.jsonl, or directories."),
        ],
        html_out: Annotated[
            Path | None, typer.Option("--html", help="Write the report with charts as HTML.")
        ] = None,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the aggregates as JSON.")
        ] = None,
    ) -> None:
        """Aggregates over every call: containment and task success by topic, the latency
        distribution, the average waterfall by lane, the top failure reasons."""
        from workbench.scenario.analytics import aggregate, html_report, load_calls

        rows = load_calls(paths)
        data = aggregate(rows)
        latency = data["turn_latency_ms"]
        print(
            f"{data['calls']} calls; containment (AI-resolved) {data['containment']:.0%}; "
            + ", ".join(f"{n} {r}" for r, n in data["resolutions"].items() if n)
        )
        for topic, row in data["containment_by_topic"].items():
            print(f"  {topic}: {row['calls']} calls, containment {row['containment']:.0%}")
        for topic, row in data["task_success_by_topic"].items():
            print(f"  task success {topic}: {row['succeeded']}/{row['calls']}")
        if latency["turns"]:
            print(
                f"turn latency at the caller: p50 {latency['p50']} ms, p95 {latency['p95']} ms, "
                f"max {latency['max']} ms over {latency['turns']} turns"
            )
        for reason, count in data["top_failure_reasons"][:5]:
            print(f"  {count} × {reason}")
        if html_out is not None:
            html_out.write_text(
                html_report(data, sorted({r.source.split(": ")[0] for r in rows})),
                encoding="utf-8",
            )
            print(f"wrote {html_out}")
        if json_out is not None:
            json_out.write_text(json.dumps(data, indent=1))
            print(f"wrote {json_out}")

    @app.command()
    def run(
        paths: Annotated[list[Path], typer.Argument(help="Scenario files or directories.")],
        jobs: Annotated[
            int, typer.Option("--jobs", "-j", min=1, help="Run scenarios in N processes.")
        ] = 1,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write everything as JSON.")
        ] = None,
        junit_out: Annotated[
            Path | None, typer.Option("--junit", help="Write JUnit XML (for CI).")
        ] = None,
        html_out: Annotated[
            Path | None, typer.Option("--html", help="Write a self-contained HTML report.")
        ] = None,
        realtime: Annotated[
            bool, typer.Option("--realtime", help="Pace on the wall clock.")
        ] = False,
        profile: Annotated[
            str | None,
            typer.Option(help="Latency profile: measured, fixed, a bundled name or a file."),
        ] = None,
        endpointing: Annotated[
            str | None,
            typer.Option(help="Override the scenarios' endpointing: silence or semantic."),
        ] = None,
        details: Annotated[
            bool,
            typer.Option("--details", help="Print every call's transcript and waterfalls."),
        ] = False,
        no_crm: Annotated[
            bool, typer.Option("--no-crm", help="Skip `crm` expectations (reported as skipped).")
        ] = False,
        ear: Annotated[str | None, typer.Option("--ear", help=EAR_HELP)] = None,
        trace_dir: Annotated[
            Path | None,
            typer.Option(
                "--trace",
                help="Write each call's Chrome/Perfetto trace (<scenario>.trace.json) here.",
                file_okay=False,
            ),
        ] = None,
    ) -> None:
        """Run scenarios in virtual time; print verdicts with evidence; exit 1 if any fails.
        With OTEL_EXPORTER_OTLP_ENDPOINT set, each call is also sent as an OpenTelemetry trace."""
        from rich.console import Console

        from workbench.engine.endpointing import make_endpointer
        from workbench.engine.latency import load_profile
        from workbench.errors import ConfigError
        from workbench.scenario.check import require_valid
        from workbench.scenario.report_text import (
            print_failed_transcript,
            print_result_line,
            print_summary,
        )
        from workbench.scenario.runner import RunOptions, run_suite

        if endpointing is not None:
            make_endpointer(endpointing)  # reject an unknown mode before any work
        if ear is not None:
            check_ear(ear)
        if profile is not None:
            load_profile(profile)
        if realtime and jobs > 1:
            raise ConfigError("--realtime runs one call at a time; drop --jobs")
        scenarios = require_valid(paths)  # the checks of `workbench check`, before any call
        console = Console()
        console.print(
            f"running {len(scenarios)} scenario(s)"
            + (f" in {jobs} processes" if jobs > 1 and len(scenarios) > 1 else ""),
            highlight=False,
        )
        started = time.perf_counter()

        def on_result(result) -> None:
            print_result_line(console, result)
            if details and result.call is not None:
                from workbench.engine.report import print_call

                print_call(console, result.call, title=f"{result.scenario.name}")

        results = run_suite(
            scenarios,
            jobs=jobs,
            options=RunOptions(
                realtime=realtime,
                profile=profile,
                endpointing=endpointing,
                check_crm=not no_crm,
                ear=ear,
            ),
            on_result=on_result,
        )
        wall = time.perf_counter() - started
        if not details:
            for result in results:
                if not result.passed:
                    print_failed_transcript(console, result)
        print_summary(console, results, wall)
        if json_out is not None:
            from workbench.scenario.summary import results_to_dict

            json_out.write_text(json.dumps(results_to_dict(results, wall), indent=1, default=str))
            console.print(f"wrote {json_out}")
        if junit_out is not None:
            from workbench.scenario.report_junit import write_junit

            write_junit(junit_out, results, wall)
            console.print(f"wrote {junit_out}")
        if html_out is not None:
            from workbench.scenario.report_html import write_html

            write_html(html_out, results, wall)
            console.print(f"wrote {html_out}")
        if trace_dir is not None:
            from workbench.scenario.traces import write_chrome_traces

            written = write_chrome_traces(trace_dir, results)
            console.print(f"wrote {written} call trace(s) to {trace_dir}")
        from workbench.engine.otel import otlp_enabled, otlp_endpoint

        if otlp_enabled():
            from workbench.scenario.traces import export_otlp

            problem = export_otlp(results)
            if problem:
                console.print(f"[yellow]warning:[/] {problem}", highlight=False)
            else:
                console.print(f"sent the call traces to {otlp_endpoint()}", highlight=False)
        if not all(r.passed for r in results):
            raise typer.Exit(1)
