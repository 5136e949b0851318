"""CRM commands: `org serve|check`, `outbox status|replay|purge|deliver`, `bench crm`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer, bench: typer.Typer) -> None:
    org = typer.Typer(
        help="The Salesforce org: serve a local one, check the configured one.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    outbox = typer.Typer(
        help="The durable CRM outbox: status, replay dead letters, purge, deliver.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
    )
    app.add_typer(org, name="org")
    app.add_typer(outbox, name="outbox")

    @org.command("serve")
    def org_serve(
        host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port (0 = a free one).")] = 0,
        token: Annotated[str | None, typer.Option(help="Bearer token (default: random).")] = None,
        faults: Annotated[
            str | None,
            typer.Option(help="Fault spec, e.g. transient=0.2 or limit=0.1,latency=200ms."),
        ] = None,
        db: Annotated[
            Path | None, typer.Option(help="SQLite database (default: temporary).")
        ] = None,
        seed: Annotated[bool, typer.Option(help="Seed demo accounts, contacts and leads.")] = True,
    ) -> None:
        """Serve a local Salesforce-compatible org until Ctrl-C; prints its URL and token."""
        from workbench.crm.org import run_org_server

        def ready(running) -> None:  # noqa: ANN001 - a LocalOrg
            typer.echo(f"local org at {running.instance_url} token {running.token}")
            typer.echo(
                f"  use it: SF_INSTANCE_URL={running.instance_url} SF_SESSION_ID={running.token}"
                + (f"  (faults: {running.faults})" if running.faults else "")
            )

        run_org_server(
            host=host,
            port=port,
            token=token,
            faults=faults,
            db_path=db,
            seed_demo_data=seed,
            on_ready=ready,
        )

    @org.command("check")
    def org_check(
        instance_url: Annotated[
            str | None, typer.Option(help="Check this org (e.g. a local one from `org serve`).")
        ] = None,
        token: Annotated[
            str | None, typer.Option(help="Session id/bearer token for --instance-url.")
        ] = None,
        mapping: Annotated[
            Path | None, typer.Option(help="Mapping file (default: canonical).")
        ] = None,
    ) -> None:
        """Describe the configured org and print what the CRM mapping needs and it lacks."""
        from workbench.crm.org_check import run_org_check

        report, ok = run_org_check(instance_url=instance_url, token=token, mapping_path=mapping)
        typer.echo(report)
        if not ok:
            raise typer.Exit(1)

    @outbox.command("status")
    def outbox_status(
        path: Annotated[
            Path | None, typer.Option(help="Outbox database (default: under WORKBENCH_HOME).")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        """Counts by state and dead letters by cause."""
        from workbench.crm.outbox import Outbox

        box = Outbox(path)
        status = box.status()
        typer.echo(json.dumps(status.as_dict()) if as_json else status.report(box.path))

    @outbox.command("replay")
    def outbox_replay(
        cause: Annotated[
            str | None, typer.Option(help="Only dead letters with this cause.")
        ] = None,
        item: Annotated[list[int] | None, typer.Option("--id", help="Only these item ids.")] = None,
        path: Annotated[Path | None, typer.Option(help="Outbox database.")] = None,
    ) -> None:
        """Move dead letters back to pending (after fixing their cause)."""
        from workbench.crm.outbox import Outbox

        n = Outbox(path).replay(cause=cause, ids=item or None)
        typer.echo(f"replayed {n} dead letters; they are delivered by the next worker run")

    @outbox.command("purge")
    def outbox_purge(
        older_than: Annotated[
            float, typer.Option(help="Delete delivered items older than N days.")
        ] = 7.0,
        dead: Annotated[
            bool, typer.Option("--dead", help="Delete the dead letters instead.")
        ] = False,
        path: Annotated[Path | None, typer.Option(help="Outbox database.")] = None,
    ) -> None:
        """Delete old delivered items (or, with --dead, dead letters)."""
        from workbench.crm.outbox import Outbox

        n = Outbox(path).purge(older_than_days=older_than, dead=dead)
        typer.echo(f"purged {n} {'dead letters' if dead else 'delivered items'}")

    @outbox.command("deliver")
    def outbox_deliver(
        timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 60.0,
        path: Annotated[Path | None, typer.Option(help="Outbox database.")] = None,
    ) -> None:
        """Deliver pending items to the configured org (or the embedded local org) and exit."""
        from workbench.crm.sink import deliver_outbox

        typer.echo(deliver_outbox(path, timeout_s=timeout))

    @bench.command("crm")
    def bench_crm(
        calls: Annotated[int, typer.Option(help="Synthetic calls to deliver.")] = 1000,
        faults: Annotated[
            str, typer.Option(help="Fault spec for the local org.")
        ] = "transient=0.2",
        kill_worker: Annotated[
            bool,
            typer.Option(
                "--kill-worker", help="kill -9 the delivery process mid-way, then restart it."
            ),
        ] = False,
        concurrency: Annotated[int, typer.Option(help="Delivery threads.")] = 4,
        seed: Annotated[int, typer.Option(help="Random seed (calls, backoff).")] = 0,
        time_limit: Annotated[
            float, typer.Option(help="Stop delivering after this many seconds.")
        ] = 600.0,
        per_record: Annotated[
            bool,
            typer.Option("--per-record", help="One request per record (no sObject Collections)."),
        ] = False,
    ) -> None:
        """Outbox delivery under faults: lost, duplicates, dead letters, throughput, p95 delay."""
        from workbench.crm.bench import run_crm_bench

        result = run_crm_bench(
            calls,
            faults,
            kill_worker,
            seed=seed,
            concurrency=concurrency,
            time_limit_s=time_limit,
            per_record=per_record,
        )
        typer.echo(json.dumps(result, indent=2))
