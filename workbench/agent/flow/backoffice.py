"""What declared actions (`actions:` in agent.yaml) ask of systems outside the call.

Apart from the dialogue because none of it talks to the caller: it reads a schedule or makes
an HTTP request, and the action steps (actions.py, times.py) turn the result into words.

- `free_times(schedule, reference, day, count)`: the first free times of a schedule on the day
  the caller wants (or the first open day after it);
- `post_webhook(call, payload)`: an HTTP POST of JSON with a timeout and retries; the reply's
  JSON object is returned (an empty one for an empty reply), or `WebhookFailed`.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta
from typing import Any

from workbench.agent.definition import WEEKDAY_NAMES, ScheduleSpec, WebhookCall

log = logging.getLogger(__name__)


class WebhookFailed(Exception):
    """Every attempt failed; the message says why (timeout, HTTP status, not JSON)."""


def _clock(text: str) -> tuple[int, int]:
    hour, minute = text.split(":")
    return int(hour), int(minute)


def _taken(schedule: ScheduleSpec) -> tuple[set[str], set[tuple[int, str]]]:
    once: set[str] = set()
    weekly: set[tuple[int, str]] = set()
    for value in schedule.booked:
        if "T" in value:
            once.add(value)
        else:
            day, _, clock = value.lower().partition(" ")
            weekly.add((WEEKDAY_NAMES.index(day), clock))
    return once, weekly


def free_times(
    schedule: ScheduleSpec,
    reference: datetime,
    wanted: str | None,
    count: int,
    taken_now: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[str]:
    """Up to `count` free times (`YYYY-MM-DDTHH:MM`) on the wanted day (ISO date or datetime;
    None: the earliest open day), at or after a wanted time; a full or closed day moves on to
    the next open day (within 60 days)."""
    earliest = reference.date() + timedelta(days=schedule.earliest_days)
    day = date.fromisoformat(wanted[:10]) if wanted else earliest
    day = max(day, earliest)
    after = _clock(wanted[11:16]) if wanted and "T" in wanted else (0, 0)
    once, weekly = _taken(schedule)
    open_at, close_at = _clock(schedule.open), _clock(schedule.close)
    step = timedelta(minutes=schedule.slot_minutes)
    found: list[str] = []
    for _ in range(60):
        if WEEKDAY_NAMES[day.weekday()] in schedule.days:
            moment = datetime(day.year, day.month, day.day, *open_at)
            end = datetime(day.year, day.month, day.day, *close_at)
            while moment + step <= end and len(found) < count:
                iso = moment.strftime("%Y-%m-%dT%H:%M")
                clock = moment.strftime("%H:%M")
                free = (
                    iso not in once
                    and (day.weekday(), clock) not in weekly
                    and iso not in taken_now
                )
                if free and (moment.hour, moment.minute) >= after:
                    found.append(iso)
                moment += step
            if found:
                return found
        day += timedelta(days=1)
        after = (0, 0)
    return found


def post_webhook(call: WebhookCall, payload: dict[str, Any]) -> dict[str, Any]:
    """POST `payload` as JSON; retried `call.retries` times after a failure (a timeout, a
    connection error, a 5xx); the reply's JSON object, or `WebhookFailed`."""
    body = json.dumps(payload).encode()
    problem = ""
    for attempt in range(call.retries + 1):
        request = urllib.request.Request(
            call.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=call.timeout_s) as response:
                text = response.read().decode("utf-8", errors="replace").strip()
            reply = json.loads(text) if text else {}
            if not isinstance(reply, dict):
                raise WebhookFailed(f"{call.url}: the reply is not a JSON object")
            return reply
        except urllib.error.HTTPError as error:
            problem = f"HTTP {error.code}"
            if error.code < 500:
                break  # the request itself is wrong: retrying will not help
        except (TimeoutError, urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            problem = "timed out" if "timed out" in str(reason) else f"unreachable ({reason})"
        except json.JSONDecodeError:
            problem = "the reply is not JSON"
            break
        log.info("webhook %s attempt %d failed: %s", call.url, attempt + 1, problem)
        if attempt < call.retries:
            time.sleep(min(0.2 * (attempt + 1), 1.0))
    raise WebhookFailed(f"{call.url}: {problem} after {call.retries + 1} attempt(s)")
