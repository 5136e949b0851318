"""The local org: a Salesforce-REST-compatible HTTP server backed by SQLite.

The real simple-salesforce client runs against it with no credentials (see
/work/shared/reference/salesforce.md §11 for the contract it implements).

Public API (stable; other parts of the workbench call exactly this)::

    from workbench.crm.org import LocalOrg, run_org_server, parse_fault_spec, FaultSpec

    LocalOrg(*, host="127.0.0.1", port=0, token=None, faults=None, db_path=None,
             seed_demo_data=True)
        .start() -> LocalOrg          # serves on its own thread + asyncio loop; returns when listening
        .stop() -> None               # idempotent; also on `with LocalOrg() as org:` exit
        .serve_forever() -> None      # start (if needed) and block until Ctrl-C / stop()
        .instance_url -> str          # "http://127.0.0.1:PORT"
        .token -> str                 # bearer token (secrets.token_urlsafe when not given)
        .port -> int
        .db_path -> Path              # db_path=None means a fresh temporary database
        .salesforce(*, version="59.0", session=None) -> simple_salesforce.Salesforce
                                      # direct session, https:// rewritten to http:// by an adapter
        .http_session() -> requests.Session   # that adapter, mounted for this org (and login host)
        .set_faults(spec: str | None) -> None # replace the fault spec while running ("" = none)
        .faults -> str                # the current spec, normalised
        .published_events(after: int = 0) -> list[dict]   # platform events with replayId > after
        .request_counts() -> dict[str, int]               # "route status" -> count

    local_http_session(instance_url, session=None) -> requests.Session
        # for an org in another process (e.g. `workbench org serve`): mounts the https->http
        # adapter for the org's host and login.salesforce.com / test.salesforce.com
    local_salesforce(instance_url, token, *, version="59.0", session=None) -> Salesforce

    run_org_server(*, host="127.0.0.1", port=0, token=None, faults=None, db_path=None,
                   seed_demo_data=True, on_ready=None) -> None
        # blocking; on_ready(org) is called once listening so the caller can print URL/token.

Admin endpoints (bearer token required, never subject to faults):
    GET  /__admin/faults                 -> {"spec": "..."}
    POST /__admin/faults  {"spec": "..."} -> {"spec": "..."}  (400 BAD_FAULT_SPEC when invalid)
    GET  /__admin/events?after=N[&timeout=S] -> {"events": [...], "lastReplayId": N}
         each event: {"replayId", "type", "eventUuid", "id", "createdDate", "payload": {...}}
         (timeout>0 long-polls until an event with replayId > N arrives or the timeout expires)
    GET  /__admin/requests               -> {"counts": {"query 200": 3, ...}, "apiUsage": N, "apiMax": M}

Routes (any vNN.N, optional trailing slash): GET /services/data/; POST /services/oauth2/token;
POST /services/Soap/u/{ver}; under /services/data/vNN.N: GET sobjects, GET|POST sobjects/{O},
GET sobjects/{O}/describe, GET|PATCH|DELETE sobjects/{O}/{id},
GET|PATCH|DELETE sobjects/{O}/{ExtField}/{value}, GET query/?q= and queryAll/?q= (+ /{locator}-{n}),
POST composite (<= 25 subrequests, @{ref.id}), POST|PATCH|DELETE composite/sobjects,
GET composite/sobjects/{O}?ids=, PATCH composite/sobjects/{O}/{ExtField}, GET limits.
An unknown sObject answers 404 INVALID_TYPE (400 INVALID_TYPE inside SOQL).

Fault spec syntax: see `workbench.crm.org.faults` (e.g. "transient=0.2,seed=7",
"limit=0.1,latency=200ms,object=VoiceCall", "budget=1000"). Demo data: see
`workbench.crm.org.seed` (phone numbers of seeded accounts, contacts and leads).
"""

from __future__ import annotations

from workbench.crm.org.client import local_http_session, local_salesforce
from workbench.crm.org.faults import FaultSpec, parse_fault_spec
from workbench.crm.org.runner import LocalOrg, run_org_server

__all__ = [
    "FaultSpec",
    "LocalOrg",
    "local_http_session",
    "local_salesforce",
    "parse_fault_spec",
    "run_org_server",
]
