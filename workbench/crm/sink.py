"""`CrmSink`: where a call's CRM writes go — outbox, delivery worker, and the org behind them.

`CrmSink.from_settings()` picks the target: a real Salesforce org when credentials are configured
(`CrmSettings.from_env`: SF_USERNAME/SF_PASSWORD/SF_SECURITY_TOKEN[/SF_DOMAIN], or
SF_INSTANCE_URL + SF_SESSION_ID, in the environment or a `.env` file in the working directory),
otherwise the embedded local org (a `LocalOrg` with its database under
`workbench_home()/org/org.sqlite`). Either way the same simple-salesforce code path delivers.

Credentials live only in `CrmSettings` fields excluded from repr; nothing here logs them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceError

from workbench.crm.call_record import CallEvent, CallRecord
from workbench.crm.delivery import Backoff, DeliveryWorker
from workbench.crm.mapping import (
    CrmMapping,
    build_call_items,
    build_event_item,
    load_mapping,
    validate_mapping,
)
from workbench.crm.outbox import Outbox, OutboxStatus
from workbench.errors import ConfigError
from workbench.paths import workbench_home

log = logging.getLogger(__name__)

_ENV_KEYS = {
    "SF_USERNAME": "username",
    "SF_PASSWORD": "password",
    "SF_SECURITY_TOKEN": "security_token",
    "SF_DOMAIN": "domain",
    "SF_INSTANCE_URL": "instance_url",
    "SF_SESSION_ID": "session_id",
    "SF_API_VERSION": "api_version",
}
_SECRET_FIELDS = ("password", "security_token", "session_id")


@dataclass(frozen=True)
class CrmSettings:
    """Where CRM writes go. Secrets are excluded from repr/str (see `__repr__`)."""

    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    security_token: str | None = field(default=None, repr=False)
    domain: str = "login"
    instance_url: str | None = None
    session_id: str | None = field(default=None, repr=False)
    api_version: str = "59.0"
    outbox_path: Path | None = None
    org_db_path: Path | None = None
    mapping_path: Path | None = None
    request_timeout_s: float = 10.0
    lookup_timeout_s: float = 2.0

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        dotenv: Path | str | None = ".env",
        **overrides: Any,
    ) -> CrmSettings:
        """Settings from a `.env` file (if present) overlaid by the environment, then overrides."""
        values: dict[str, Any] = {}
        env = dict(read_dotenv(Path(dotenv))) if dotenv else {}
        env.update(os.environ if environ is None else environ)
        for key, name in _ENV_KEYS.items():
            if env.get(key):
                values[name] = env[key]
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    @property
    def uses_real_org(self) -> bool:
        """True when credentials for a real org are configured."""
        password_login = bool(self.username and self.password and self.security_token is not None)
        return password_login or bool(self.instance_url and self.session_id)

    def __repr__(self) -> str:
        shown = []
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in (*_SECRET_FIELDS, "username"):
                value = "<set>" if value else None
            shown.append(f"{f.name}={value!r}")
        return f"CrmSettings({', '.join(shown)})"

    __str__ = __repr__


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines (optional `export `, quotes, # comments); a missing file is empty."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return {}
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        else:
            value = value.split(" #", 1)[0].strip()
        values[key.strip()] = value
    return values


class _TimeoutSession(requests.Session):
    """A Session with a default timeout: simple-salesforce's writes cannot pass one."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any):  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout_s
        return super().request(method, url, *args, **kwargs)


def local_org_client(org: Any, *, timeout_s: float = 10.0, version: str = "59.0") -> Salesforce:
    """A simple-salesforce client for a `LocalOrg`, with a default request timeout."""
    session = _TimeoutSession(timeout_s)
    session.trust_env = False  # loopback: no proxies from the environment
    for prefix, adapter in org.http_session().adapters.items():
        session.mount(prefix, adapter)
    return Salesforce(
        instance_url=org.instance_url, session_id=org.token, session=session, version=version
    )


def real_org_client(settings: CrmSettings, *, timeout_s: float | None = None) -> Salesforce:
    """A simple-salesforce client for the configured org (logs in for password credentials).

    An `http://` SF_INSTANCE_URL is a local org (e.g. one started by `workbench org serve`):
    its https:// traffic is rewritten to http:// as `LocalOrg.http_session()` does.
    """
    session = _TimeoutSession(timeout_s or settings.request_timeout_s)
    if settings.instance_url and settings.session_id:
        if settings.instance_url.startswith("http://"):
            from workbench.crm.org.client import local_http_session

            local_http_session(settings.instance_url, session)
        return Salesforce(
            instance_url=settings.instance_url,
            session_id=settings.session_id,
            session=session,
            version=settings.api_version,
        )
    return Salesforce(
        username=settings.username,
        password=settings.password,
        security_token=settings.security_token or "",
        domain=settings.domain,
        session=session,
        version=settings.api_version,
    )


def default_org_db_path() -> Path:
    path = workbench_home() / "org"
    path.mkdir(parents=True, exist_ok=True)
    return path / "org.sqlite"


@dataclass(frozen=True)
class CallerInfo:
    """Who is calling, from the CRM: a Contact (with its Account) or a Lead."""

    record_type: str  # "Contact" or "Lead"
    record_id: str
    name: str
    account_name: str | None = None
    vip: bool = False
    open_cases: tuple[str, ...] = ()  # subjects (or case numbers) of open cases
    candidates: tuple[str, ...] = ()  # several contacts share the number: their names

    @property
    def ambiguous(self) -> bool:
        """Several contacts share this number: ask who is calling (`name` is then "")."""
        return len(self.candidates) > 1


def phone_variants(phone: str) -> list[str]:
    """The ways a number may be stored: as given, E.164, national digits, (415) 555-0100, …"""
    digits = re.sub(r"\D", "", phone)
    variants = {phone.strip(), digits, "+" + digits}
    if len(digits) == 11 and digits.startswith("1"):
        national = digits[1:]
        variants |= {national, "+1" + national}
    elif len(digits) == 10:
        national = digits
        variants |= {"+1" + national, "1" + national}
    else:
        national = ""
    if national:
        a, b, c = national[:3], national[3:6], national[6:]
        variants |= {
            f"({a}) {b}-{c}",
            f"{a}-{b}-{c}",
            f"{a}.{b}.{c}",
            f"+1 {a} {b} {c}",
            f"+1 ({a}) {b}-{c}",
            f"+1-{a}-{b}-{c}",
        }
    return sorted(v for v in variants if v)


def _soql_in(values: list[str]) -> str:
    return ", ".join("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)


class CrmSink:
    """Enqueues a call's CRM writes and delivers them in the background."""

    def __init__(
        self,
        *,
        outbox: Outbox,
        client_factory: Callable[[], Salesforce],
        lookup_client_factory: Callable[[], Salesforce] | None = None,
        mapping: CrmMapping,
        target: str,
        org: Any = None,
        worker: DeliveryWorker | None = None,
    ) -> None:
        self.outbox = outbox
        self.mapping = mapping
        self.target = target
        self.org = org
        self.worker = worker
        self._client_factory = client_factory
        self._lookup_client_factory = lookup_client_factory or client_factory
        self._lookup_client: Salesforce | None = None

    @classmethod
    def from_settings(
        cls,
        settings: CrmSettings | None = None,
        *,
        start_worker: bool = True,
        validate: bool = True,
        concurrency: int = 2,
        backoff: Backoff | None = None,
        max_attempts: int = 10,
    ) -> CrmSink:
        """Build the sink for the configured org (or the embedded local org) and start delivery.

        With `validate`, the mapping is checked against the org's describe(): missing fields raise
        one `ConfigError`. An unreachable real org is logged and left to the outbox to retry.
        """
        settings = settings or CrmSettings.from_env()
        mapping = load_mapping(settings.mapping_path)
        outbox = Outbox(settings.outbox_path)
        org = None
        if settings.uses_real_org:
            target = (
                f"Salesforce org ({settings.instance_url or settings.domain + '.salesforce.com'})"
            )

            def factory() -> Salesforce:
                return real_org_client(settings)

            def lookup_factory() -> Salesforce:
                return real_org_client(settings, timeout_s=settings.lookup_timeout_s)
        else:
            from workbench.crm.org import LocalOrg

            org = LocalOrg(host="127.0.0.1", db_path=settings.org_db_path or default_org_db_path())
            org.start()
            target = f"local org at {org.instance_url}"

            def factory() -> Salesforce:
                return local_org_client(
                    org, timeout_s=settings.request_timeout_s, version=settings.api_version
                )

            def lookup_factory() -> Salesforce:
                return local_org_client(
                    org, timeout_s=settings.lookup_timeout_s, version=settings.api_version
                )

        if validate:
            try:
                mapping = _checked_mapping(mapping, factory, target, local=org is not None)
            except BaseException:
                if org is not None:
                    org.stop()  # do not leave the embedded org serving behind a failed start
                raise
        worker = DeliveryWorker(
            outbox, factory, concurrency=concurrency, backoff=backoff, max_attempts=max_attempts
        )
        sink = cls(
            outbox=outbox,
            client_factory=factory,
            lookup_client_factory=lookup_factory,
            mapping=mapping,
            target=target,
            org=org,
            worker=worker,
        )
        if start_worker:
            worker.start()
        log.info("CRM sink writing to %s", target)
        return sink

    def __repr__(self) -> str:
        return f"CrmSink(target={self.target!r}, outbox={str(self.outbox.path)!r})"

    def write_call(self, record: CallRecord) -> list[int]:
        """Enqueue the call's records (redacted, mapped); returns outbox item ids. No network."""
        return self.outbox.enqueue(record.call_id, build_call_items(record, self.mapping))

    def publish_event(self, event: CallEvent) -> int:
        """Enqueue a `Call_Event__e` publish; returns its outbox item id. No network."""
        return self.outbox.enqueue(event.call_id, [build_event_item(event, self.mapping)])[0]

    def lookup_caller(self, phone: str) -> CallerInfo | None:
        """Who owns this number: a Contact (first) or a Lead; None when unknown or on CRM trouble.

        Quick (its own client with a short timeout) and never raises: a call must start even
        when the CRM is down.
        """
        try:
            if self._lookup_client is None:
                self._lookup_client = self._lookup_client_factory()
            return _lookup(self._lookup_client, phone)
        except Exception as error:  # CRM trouble must not break a call; logged, not raised
            log.warning("caller lookup failed (%s: %s)", type(error).__name__, str(error)[:200])
            return None

    def status(self) -> OutboxStatus:
        return self.outbox.status()

    def records_for_call(self, call_id: str) -> dict[str, list[dict[str, Any]]]:
        """What the org holds for one call: VoiceCall, Case, Lead and Task records keyed by
        `Call_Id__c` (the call id, or the call id plus a suffix for Case/Lead/Task)."""
        client = self._client_factory()
        found: dict[str, list[dict[str, Any]]] = {}
        for obj, fields_ in (
            (
                "VoiceCall",
                "Id, Call_Id__c, CallType, FromPhoneNumber, Intent__c, Disposition__c, CallDurationInSeconds, Summary__c",
            ),
            ("Case", "Id, Call_Id__c, Subject, Status, Priority"),
            ("Lead", "Id, Call_Id__c, LastName, Company, Status"),
            ("Task", "Id, Call_Id__c, Subject, Status"),
        ):
            query = f"SELECT {fields_} FROM {obj} WHERE Call_Id__c LIKE '{call_id}%'"
            try:
                records = client.query_all(query)["records"]
            except SalesforceError as error:  # an org without that field or object
                log.warning("could not read %s records: %s", obj, error)
                continue
            found[obj] = [{k: v for k, v in r.items() if k != "attributes"} for r in records]
        return found

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop delivery (unsent items stay queued for next time) and the embedded org."""
        if self.worker is not None:
            self.worker.stop(timeout_s)
        if self.org is not None:
            self.org.stop()
            self.org = None
        self.outbox.close()

    def __enter__(self) -> CrmSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _checked_mapping(
    mapping: CrmMapping, factory: Callable[[], Salesforce], target: str, *, local: bool
) -> CrmMapping:
    """`validate_mapping` against the target; an unreachable real org only logs a warning."""
    try:
        return validate_mapping(mapping, describer(factory()))
    except SalesforceAuthenticationFailed as error:
        raise ConfigError(
            f"Salesforce login failed ({error.code}); check SF_USERNAME, SF_PASSWORD, "
            "SF_SECURITY_TOKEN and SF_DOMAIN (or SF_INSTANCE_URL + SF_SESSION_ID)"
        ) from None
    except (requests.RequestException, SalesforceError) as error:
        if local:
            raise
        # The outbox exists for exactly this: queue now, deliver (and fit fields) later.
        log.warning(
            "could not check the CRM mapping against %s (%s); writes are queued",
            target,
            type(error).__name__,
        )
        return mapping


def describer(sf: Salesforce) -> Callable[[str], dict[str, Any] | None]:
    """`describe(object)` for `validate_mapping`: None when the object does not exist."""

    def describe(name: str) -> dict[str, Any] | None:
        try:
            return getattr(sf, name).describe()
        except SalesforceError as error:
            if getattr(error, "status", 0) in (400, 403, 404):
                return None
            raise

    return describe


def _lookup(sf: Salesforce, phone: str) -> CallerInfo | None:
    numbers = _soql_in(phone_variants(phone))
    contacts = sf.query(
        "SELECT Id, Name, AccountId, Account.Name, Account.VIP__c FROM Contact "
        f"WHERE Phone IN ({numbers}) OR MobilePhone IN ({numbers}) ORDER BY Name LIMIT 5"
    )["records"]
    if contacts:
        ids = _soql_in([c["Id"] for c in contacts])
        cases = sf.query(
            "SELECT CaseNumber, Subject FROM Case "
            f"WHERE ContactId IN ({ids}) AND Status != 'Closed' LIMIT 20"
        )["records"]
        accounts = [c.get("Account") or {} for c in contacts]
        names = tuple(c.get("Name") or "" for c in contacts)
        same_account = len({c.get("AccountId") for c in contacts}) == 1
        return CallerInfo(
            record_type="Contact",
            record_id=contacts[0]["Id"] if len(contacts) == 1 else "",
            name=names[0] if len(contacts) == 1 else "",
            account_name=accounts[0].get("Name") if same_account else None,
            vip=any(bool(a.get("VIP__c")) for a in accounts),
            open_cases=tuple(c.get("Subject") or c.get("CaseNumber") or "" for c in cases),
            candidates=names if len(contacts) > 1 else (),
        )
    leads = sf.query(
        "SELECT Id, Name, Company FROM Lead "
        f"WHERE Phone IN ({numbers}) OR MobilePhone IN ({numbers}) LIMIT 1"
    )["records"]
    if leads:
        lead = leads[0]
        return CallerInfo(
            "Lead", lead["Id"], lead.get("Name") or "", account_name=lead.get("Company")
        )
    return None


def deliver_outbox(
    outbox_path: Path | None = None, *, timeout_s: float = 60.0, settings: CrmSettings | None = None
) -> str:
    """`workbench outbox deliver`: drain the outbox to the configured org once; a summary line."""
    settings = settings or CrmSettings.from_env(outbox_path=outbox_path)
    sink = CrmSink.from_settings(settings, start_worker=False)
    try:
        assert sink.worker is not None
        drained = sink.worker.drain(timeout_s)
        stats = sink.worker.stats
        counts = sink.status().counts
    finally:
        sink.close()
    state = "drained" if drained else f"not drained after {timeout_s:g} s"
    return (
        f"{state}: delivered {stats.delivered}, retried {stats.retried}, dead {stats.dead} "
        f"to {sink.target}; outbox now pending {counts['pending']}, dead {counts['dead']}"
    )


__all__ = ["CallerInfo", "CrmSettings", "CrmSink", "read_dotenv"]
