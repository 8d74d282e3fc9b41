"""Covering a date range with as few rollup rows as possible: whole months, then whole ISO weeks, then days."""

from __future__ import annotations

from datetime import date, timedelta

Span = tuple[str, date]  # (grain, first day): 'm' calendar month, 'w' ISO week (Monday), 'd' day


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def _weeks_and_days(start: date, end: date) -> list[Span]:
    if start > end:
        return []
    monday = start + timedelta(days=-start.weekday() % 7)
    spans: list[Span] = []
    day = start
    while day < monday and day <= end:
        spans.append(("d", day))
        day += timedelta(days=1)
    while day + timedelta(days=6) <= end:
        spans.append(("w", day))
        day += timedelta(days=7)
    while day <= end:
        spans.append(("d", day))
        day += timedelta(days=1)
    return spans


def cover(start: date, end: date) -> list[Span]:
    """Disjoint spans whose days are exactly start..end (both included); 90 days take at most about 25."""
    first = start if start.day == 1 else _next_month(start)
    months: list[Span] = []
    month = first
    while _next_month(month) - timedelta(days=1) <= end:
        months.append(("m", month))
        month = _next_month(month)
    if not months:
        return _weeks_and_days(start, end)
    return _weeks_and_days(start, first - timedelta(days=1)) + months + _weeks_and_days(month, end)


def every_day(start: date, end: date) -> list[Span]:
    return [("d", start + timedelta(days=i)) for i in range((end - start).days + 1)]
