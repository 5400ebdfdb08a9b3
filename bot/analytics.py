"""Support analytics computed from what the server stores: the event log (`conversation_events`),
the conversations (their engine state) and the agents' ownership table.

Nothing here is counted on the side: every number is an aggregate query over stored rows for a
time window (`since` .. now), in buckets of an hour or a day (UTC). Definitions (also in
docs/agents.md):

- conversations: conversations with at least one shopper message (`user_uttered`) in the window;
- handed off: those of them that were ever handed to humans (a `handoff` event to
  `handoff_requested` or `human`, or an agent's message); contained = conversations - handed off;
- turns: shopper messages in the window; turn latency: from the shopper's message being stored to
  the bot's reply (the first `bot_uttered` before the shopper's next message) being stored;
- handoffs over time: `handoff` events to `handoff_requested` (requests) and `human` (takeovers);
- handoffs by reason: conversations with a request in the window, by the reason the ownership
  table holds for them (its category: the part before ":", e.g. "moderation", "frustration");
- tools: tool results in the engine state of conversations with events in the window (the state
  keeps no time per call), errors being results that start with "Error:";
- moderation: stored `moderation` events by action and by their stored reason;
- languages: the conversations above by the shopper's language (`conversations.language`, the
  sticky per-conversation choice of bot/language.py; "en" until a message had letters to go by).

Counts run in SQL (SQLite and PostgreSQL); only the latency percentiles are taken in Python from
the per-turn (message, reply) times the query returns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from sqlalchemy import DateTime, and_, bindparam, case, func, or_, select, text
from sqlalchemy.orm import aliased

from bot.db import Database
from bot.events import EventRow
from bot.handoff_store import OwnershipRow
from bot.sessions import ConversationRow

Bucket = Literal["hour", "day"]
BUCKET_SIZE: dict[str, timedelta] = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
DEFAULT_WINDOW = timedelta(days=7)
MAX_BUCKETS = 2000  # an hourly series over ~83 days; longer windows must use days
TOP_TOOLS = 10
TOP_REASONS = 10
HUMAN_STATES = ("handoff_requested", "human")


class AnalyticsError(ValueError):
    """The window or bucket asked for cannot be computed (e.g. too many buckets)."""


@dataclass
class Point:
    """One bucket of the time series (`start` is the bucket's first instant, UTC)."""

    start: datetime
    turns: int = 0
    replies: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    handoff_requests: int = 0
    takeovers: int = 0


@dataclass
class Report:
    since: datetime
    until: datetime
    bucket: str
    conversations: int = 0
    contained: int = 0
    handed_off: int = 0
    turns: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    tools: list[dict[str, Any]] = field(default_factory=list)  # {"tool", "calls", "errors"}
    moderation_by_action: list[dict[str, Any]] = field(default_factory=list)  # {"action", "count"}
    moderation_by_reason: list[dict[str, Any]] = field(default_factory=list)  # {"action", "reason", "count"}
    handoffs_by_reason: list[dict[str, Any]] = field(default_factory=list)  # {"reason", "count"}
    languages: list[dict[str, Any]] = field(default_factory=list)  # {"language", "conversations"}
    series: list[Point] = field(default_factory=list)

    @property
    def contained_rate(self) -> float | None:
        return self.contained / self.conversations if self.conversations else None

    @property
    def handoff_rate(self) -> float | None:
        return self.handed_off / self.conversations if self.conversations else None


def _utc(moment: datetime) -> datetime:
    """Stored times are UTC; SQLite hands them back naive."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def bucket_start(moment: datetime, bucket: str) -> datetime:
    moment = _utc(moment)
    if bucket == "day":
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)
    return moment.replace(minute=0, second=0, microsecond=0)


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): a value that was actually measured."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _bucket_sql(db: Database, column: Any, bucket: str) -> Any:
    """The bucket's start as an ISO text 'YYYY-MM-DDTHH:00:00' (UTC), computed by the database."""
    if db.is_sqlite:  # stored as 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC
        return func.strftime("%Y-%m-%dT%H:00:00" if bucket == "hour" else "%Y-%m-%dT00:00:00", column)
    truncated = func.date_trunc(bucket, func.timezone("UTC", column))
    return func.to_char(truncated, 'YYYY-MM-DD"T"HH24:MI:SS')


def _parse_bucket(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


async def compute(db: Database, since: datetime | None = None, bucket: Bucket = "day", *, now: datetime | None = None) -> Report:
    """The analytics report for `since` .. `now` (default: the last 7 days) in `bucket`s."""
    if bucket not in BUCKET_SIZE:
        raise AnalyticsError("bucket must be 'hour' or 'day'")
    until = _utc(now or datetime.now(timezone.utc))
    since = _utc(since) if since is not None else until - DEFAULT_WINDOW
    if since > until:
        raise AnalyticsError("since is in the future")
    first = bucket_start(since, bucket)
    count = int((until - first) / BUCKET_SIZE[bucket]) + 1
    if count > MAX_BUCKETS:
        raise AnalyticsError(f"too many {bucket} buckets ({count}); use a shorter window or bucket=day")
    report = Report(since=since, until=until, bucket=bucket)
    series = {first + i * BUCKET_SIZE[bucket]: Point(first + i * BUCKET_SIZE[bucket]) for i in range(count)}

    e = EventRow
    in_window = and_(e.created_at >= since, e.created_at <= until)
    async with db.read() as session:
        # Conversations with a shopper message in the window, and those of them humans ever handled.
        active = select(e.session_id.label("sid")).where(in_window, e.type == "user_uttered").distinct().subquery()
        h = aliased(EventRow)
        human = select(h.id).where(
            h.session_id == active.c.sid,
            or_(and_(h.type == "handoff", func.coalesce(h.data["state"].as_string(), "").in_(HUMAN_STATES)), h.type == "agent_uttered"),
        ).exists()
        row = (await session.execute(select(func.count(), func.coalesce(func.sum(case((human, 1), else_=0)), 0)).select_from(active))).one()
        report.conversations, report.handed_off = int(row[0]), int(row[1])
        report.contained = report.conversations - report.handed_off
        language = ConversationRow.language.label("language")
        by_language = (
            select(language, func.count()).where(ConversationRow.session_id.in_(select(active.c.sid))).group_by(language)
        )
        report.languages = [
            {"language": str(lang), "conversations": int(n)}
            for lang, n in sorted((await session.execute(by_language)).all(), key=lambda x: (-int(x[1]), str(x[0])))
        ]

        # Turns, replies and handoff events per bucket.
        key = _bucket_sql(db, e.created_at, bucket).label("bucket")
        state = e.data["state"].as_string()
        per_bucket = (
            select(
                key,
                func.sum(case((e.type == "user_uttered", 1), else_=0)),
                func.sum(case((e.type == "bot_uttered", 1), else_=0)),
                func.sum(case((and_(e.type == "handoff", state == "handoff_requested"), 1), else_=0)),
                func.sum(case((and_(e.type == "handoff", state == "human"), 1), else_=0)),
            )
            .where(in_window, e.type.in_(("user_uttered", "bot_uttered", "handoff")))
            .group_by(key)
        )
        for start, turns, replies, requests, takeovers in (await session.execute(per_bucket)).all():
            point = series.get(_parse_bucket(start))
            if point is None:  # cannot happen unless the clocks disagree; never drop a count silently
                point = series.setdefault(_parse_bucket(start), Point(_parse_bucket(start)))
            point.turns, point.replies = int(turns or 0), int(replies or 0)
            point.handoff_requests, point.takeovers = int(requests or 0), int(takeovers or 0)
        report.turns = sum(p.turns for p in series.values())

        # Turn latency: each shopper message and the first bot reply stored before the next one.
        u, b, n = aliased(EventRow), aliased(EventRow), aliased(EventRow)
        next_message = (
            select(func.min(n.seq)).where(n.session_id == u.session_id, n.type == "user_uttered", n.seq > u.seq)
            .correlate(u)  # nested two levels down: tie it to the outer row explicitly
            .scalar_subquery()
        )
        reply_at = (
            select(func.min(b.created_at))
            .where(b.session_id == u.session_id, b.type == "bot_uttered", b.seq > u.seq, or_(next_message.is_(None), b.seq < next_message))
            .scalar_subquery()
        )
        pairs = (await session.execute(
            select(u.created_at, reply_at).where(u.type == "user_uttered", u.created_at >= since, u.created_at <= until)
        )).all()

        # Moderation decisions stored in the log.
        # Grouped by the output labels: PostgreSQL sees each JSON path as a separate bound parameter
        # and would not match the expressions in GROUP BY with those in SELECT.
        action_ = e.data["action"].as_string().label("action")
        reason_ = e.data["reason"].as_string().label("reason")
        by_reason = select(action_, reason_, func.count()).where(in_window, e.type == "moderation").group_by(action_, reason_)
        moderation = [(str(a or "unknown"), str(r or ""), int(c)) for a, r, c in (await session.execute(by_reason)).all()]

        # Handoff reasons of the conversations with a request in the window.
        requested = select(e.session_id).where(in_window, e.type == "handoff", state == "handoff_requested").distinct()
        reasons = (await session.execute(
            select(OwnershipRow.reason).where(OwnershipRow.conversation_id.in_(requested))
        )).scalars().all()

        # Tool results kept in the engine state of the conversations active in the window.
        tools = (await session.execute(_tools_sql(db), {"since": since, "until": until})).all()

    latencies: dict[datetime, list[float]] = {}
    everything: list[float] = []
    for asked, answered in pairs:
        if answered is None:
            continue  # no reply (handed to a human, failed, or still running)
        if isinstance(answered, str):  # SQLite returns a scalar subquery's datetime as text
            answered = datetime.fromisoformat(answered)
        ms = max(0.0, (_utc(answered) - _utc(asked)).total_seconds() * 1000)
        latencies.setdefault(bucket_start(asked, bucket), []).append(ms)
        everything.append(ms)
    for start, values in latencies.items():
        point = series.setdefault(start, Point(start))
        point.latency_p50_ms, point.latency_p95_ms = percentile(values, 50), percentile(values, 95)
    report.latency_p50_ms, report.latency_p95_ms = percentile(everything, 50), percentile(everything, 95)

    report.series = [series[k] for k in sorted(series)]
    actions: dict[str, int] = {}
    for action, _reason, count_ in moderation:
        actions[action] = actions.get(action, 0) + count_
    report.moderation_by_action = [{"action": a, "count": c} for a, c in sorted(actions.items(), key=lambda x: (-x[1], x[0]))]
    report.moderation_by_reason = [
        {"action": a, "reason": r, "count": c} for a, r, c in sorted(moderation, key=lambda x: (-x[2], x[0], x[1]))
    ][:TOP_REASONS]
    grouped: dict[str, int] = {}
    for reason in reasons:
        name = reason_category(reason)
        grouped[name] = grouped.get(name, 0) + 1
    report.handoffs_by_reason = [{"reason": r, "count": c} for r, c in sorted(grouped.items(), key=lambda x: (-x[1], x[0]))][:TOP_REASONS]
    report.tools = [
        {"tool": str(name), "calls": int(calls), "errors": int(errors or 0)}
        for name, calls, errors in sorted(tools, key=lambda x: (-int(x[1]), str(x[0])))
        if name is not None
    ][:TOP_TOOLS]
    return report


def reason_category(reason: str | None) -> str:
    """'moderation: pii/card_number' -> 'moderation'; a reason without a category is kept (short)."""
    if not reason:
        return "taken over without a request"
    head = reason.split(":", 1)[0].strip()
    return head[:80] or "unspecified"


def _tools_sql(db: Database) -> Any:
    """Tool results (`role: tool` messages, as the engine keeps them) per tool name. JSON
    functions differ per database, hence text SQL; the time bounds are typed parameters."""
    active = (
        "SELECT DISTINCT session_id FROM conversation_events WHERE created_at >= :since AND created_at <= :until"
    )
    if db.is_sqlite:
        sql = (
            "SELECT json_extract(m.value, '$.name') AS tool, COUNT(*) AS calls, "
            "SUM(CASE WHEN json_extract(m.value, '$.content') LIKE 'Error:%' THEN 1 ELSE 0 END) AS errors "
            "FROM conversations AS c, json_each(c.state, '$.messages') AS m "
            f"WHERE json_extract(m.value, '$.role') = 'tool' AND c.session_id IN ({active}) GROUP BY tool"
        )
    else:
        sql = (
            "SELECT m ->> 'name' AS tool, COUNT(*) AS calls, "
            "SUM(CASE WHEN m ->> 'content' LIKE 'Error:%' THEN 1 ELSE 0 END) AS errors "
            "FROM conversations AS c CROSS JOIN LATERAL json_array_elements(c.state -> 'messages') AS m "
            f"WHERE m ->> 'role' = 'tool' AND c.session_id IN ({active}) GROUP BY tool"
        )
    return text(sql).bindparams(bindparam("since", type_=DateTime(timezone=True)), bindparam("until", type_=DateTime(timezone=True)))
