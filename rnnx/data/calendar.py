"""A forecast's time column: its frequency and seasonal period inferred from the labels, the labels
of the next H steps in the same format, and calendar features for history and future alike;
standard library (``datetime``) and NumPy (imported inside functions).

Labels are text, one style per column (the first label's):

=========  ==============================================  =========================================
style      examples                                        frequencies
=========  ==============================================  =========================================
datetime   ``2020-01-31 13:00``, ``2020-01-31T13:00:00``    hourly, daily, weekly
date       ``2020-01-31``                                  daily, weekly, monthly, quarterly, yearly
month      ``1959-01``                                     monthly
quarter    ``1959Q1``, ``1959-Q1``                         quarterly
year       ``1959``                                        yearly
=========  ==============================================  =========================================

Monthly, quarterly and yearly dates are either all month ends (``2020-01-31``, ``2020-02-29``, ...,
continued as month ends) or all the same day of the month, 1 to 28 (``2020-01-15``, ...).
Any other step (minutes, business days, two years), a gap, a repeat or a step back is refused.
"""

from __future__ import annotations

import calendar as _cal
import datetime as _dt
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rnnx.data import DataError

__all__ = ["FREQUENCIES", "SEASONAL_PERIODS", "CALENDAR_FEATURES", "Calendar", "infer_calendar"]

#: The frequencies :func:`infer_calendar` tells apart.
FREQUENCIES = ("hourly", "daily", "weekly", "monthly", "quarterly", "yearly")
#: The seasonal period m each frequency implies, the cycle a forecaster meets most: the day (24
#: hours), the week (7 days), the year (52 weeks: 52.18 rounded down, so a seasonal lag stays a
#: whole number of steps; a week-53 year shifts the season by one step), the year (12 months, 4
#: quarters); a yearly series has no season (m = 1: seasonal naive is naive).
SEASONAL_PERIODS = {"hourly": 24, "daily": 7, "weekly": 52, "monthly": 12, "quarterly": 4, "yearly": 1}
#: The cycles whose phase :meth:`Calendar.features` encodes, by frequency (a sine and a cosine each).
CALENDAR_FEATURES = {"hourly": ("hour-of-day", "day-of-week"), "daily": ("day-of-week", "day-of-year"),
                     "weekly": ("day-of-year",), "monthly": ("month-of-year",),
                     "quarterly": ("quarter-of-year",), "yearly": ()}

_PATTERNS = {
    "datetime": re.compile(r"(\d{4})-(\d{2})-(\d{2})([T ])(\d{2}):(\d{2})(:\d{2})?"),
    "date": re.compile(r"(\d{4})-(\d{2})-(\d{2})"),
    "month": re.compile(r"(\d{4})-(\d{2})"),
    "quarter": re.compile(r"(\d{4})(-?)Q([1-4])"),
    "year": re.compile(r"(\d{4})"),
}
_EXAMPLES = {"datetime": "2020-01-31 13:00", "date": "2020-01-31", "month": "1959-01", "quarter": "1959Q1",
             "year": "1959"}
_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}  # the step of a month-based frequency, in months
_SECONDS = {3600: "hourly", 86400: "daily", 604800: "weekly"}
_DAYS = {1: "daily", 7: "weekly"}  # the step of a day-based frequency, in days
_STEP_TEXT = {"hourly": "1 hour", "daily": "1 day", "weekly": "7 days", "monthly": "1 month",
              "quarterly": "3 months", "yearly": "12 months"}
_ALLOWED = {"datetime": ("hourly", "daily", "weekly"), "date": FREQUENCIES[1:]}  # the frequencies of a style


def _where(i: int, rows: Sequence[Any] | None) -> str:
    return f"row {rows[i]}" if rows is not None else f"position {i}"


def _parse(style: str, label: str) -> tuple[_dt.datetime, str] | None:
    """The point a label names (a quarter its first day, a year 1 January) and its format key
    (the separators and whether seconds are shown), or None if it is not of ``style``."""
    m = _PATTERNS[style].fullmatch(label)
    if m is None:
        return None
    g = m.groups()
    try:
        if style == "datetime":
            sec = int(g[6][1:]) if g[6] else 0
            point = _dt.datetime(int(g[0]), int(g[1]), int(g[2]), int(g[4]), int(g[5]), sec)
            return point, g[3] + ("s" if g[6] else "")
        if style == "date":
            return _dt.datetime(int(g[0]), int(g[1]), int(g[2])), ""
        if style == "month":
            return _dt.datetime(int(g[0]), int(g[1]), 1), ""
        if style == "quarter":
            return _dt.datetime(int(g[0]), 3 * int(g[2]) - 2, 1), g[1]
        return _dt.datetime(int(g[0]), 1, 1), ""
    except ValueError:  # a month 13, a 30 February, an hour 25
        return None


def _points(labels: Any, style: str | None, key: str | None, rows: Sequence[Any] | None,
            arg: str) -> tuple[list[_dt.datetime], str, str]:
    """Each label's point, the column's style and format key (the first label's unless given);
    a label of another style or format is refused, naming its row."""
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence) or not labels:
        raise DataError(f"{arg}: expected a non-empty list of time labels, got {str(labels)[:60]!r}")
    out = []
    for i, raw in enumerate(labels):
        label = raw.strip() if isinstance(raw, str) else None
        if label is None:
            raise DataError(f"{arg}: {_where(i, rows)} is {raw!r}; expected a time label (text)")
        if style is None:
            style = next((s for s in _PATTERNS if _parse(s, label) is not None), None)
            if style is None:
                raise DataError(f"{arg}: {_where(i, rows)} is {label[:40]!r}; expected a date or time like "
                                f"{', '.join(_EXAMPLES.values())}")
        got = _parse(style, label)
        if key is None and got is not None:
            key = got[1]
        if got is None or got[1] != key:
            raise DataError(f"{arg}: {_where(i, rows)} is {label[:40]!r}; expected a valid {style} in the format "
                            f"of the column's first label (like {_EXAMPLES[style]!r})")
        out.append(got[0])
    return out, style, key or ""


def _month_index(p: _dt.datetime) -> int:
    return 12 * p.year + p.month - 1


def _month_end(p: _dt.datetime) -> bool:
    return p.day == _cal.monthrange(p.year, p.month)[1]


def _steps(points: list[_dt.datetime], style: str) -> tuple[list[int], str]:
    """The gap between consecutive points in the unit the style counts in (months for month
    styles and month-based dates, seconds for datetimes, days for dates) and that unit."""
    if style in ("month", "quarter", "year"):
        return [_month_index(b) - _month_index(a) for a, b in zip(points, points[1:])], "month"
    if style == "datetime":
        return [int((b - a).total_seconds()) for a, b in zip(points, points[1:])], "second"
    days = [(b - a).days for a, b in zip(points, points[1:])]
    if Counter(days).most_common(1)[0][0] < 28:  # shorter than any month: counted in days
        return days, "day"
    return [_month_index(b) - _month_index(a) for a, b in zip(points, points[1:])], "month"


def _gap(n: int, unit: str) -> str:
    return f"{n} {unit}{'' if abs(n) == 1 else 's'} after"


@dataclass(frozen=True)
class Calendar:
    """A regular time column: its ``frequency`` (one of :data:`FREQUENCIES`), label ``style``
    (``datetime``, ``date``, ``month``, ``quarter``, ``year``) and format ``key`` (a datetime's
    date-time separator and ``s`` when seconds are shown; a quarter's ``-`` or nothing), the
    ``last`` label's point, and for monthly/quarterly/yearly dates the day of the month
    (``anchor``; 0: month ends).  Build it with :func:`infer_calendar`."""

    frequency: str
    style: str
    key: str
    last: _dt.datetime
    anchor: int = 0

    @property
    def period(self) -> int:
        """The seasonal period m: :data:`SEASONAL_PERIODS` of the frequency."""
        return SEASONAL_PERIODS[self.frequency]

    @property
    def feature_names(self) -> tuple[str, ...]:
        """The columns of :meth:`features`: ``sin(<cycle>)``, ``cos(<cycle>)`` per cycle."""
        return tuple(f"{f}({c})" for c in CALENDAR_FEATURES[self.frequency] for f in ("sin", "cos"))

    def _point(self, k: int) -> _dt.datetime:
        """The point ``k`` steps after the last label."""
        if self.frequency in _MONTHS:
            y, m = divmod(_month_index(self.last) + k * _MONTHS[self.frequency], 12)
            if y > 9999:
                raise DataError(f"h: {k} steps after {self._label(self.last)!r} is beyond the year 9999")
            day = _cal.monthrange(y, m + 1)[1] if self.anchor == 0 and self.style == "date" else max(self.anchor, 1)
            return _dt.datetime(y, m + 1, day)
        seconds = next(s for s, f in _SECONDS.items() if f == self.frequency)
        try:
            return self.last + _dt.timedelta(seconds=seconds * k)
        except OverflowError:
            raise DataError(f"h: {k} steps after {self._label(self.last)!r} is beyond the year 9999") from None

    def _label(self, p: _dt.datetime) -> str:
        """``p`` written in the column's style and format."""
        if self.style == "datetime":
            sec = f":{p.second:02d}" if self.key.endswith("s") else ""
            return f"{p.year:04d}-{p.month:02d}-{p.day:02d}{self.key[:1]}{p.hour:02d}:{p.minute:02d}{sec}"
        if self.style == "date":
            return f"{p.year:04d}-{p.month:02d}-{p.day:02d}"
        if self.style == "month":
            return f"{p.year:04d}-{p.month:02d}"
        if self.style == "quarter":
            return f"{p.year:04d}{self.key}Q{(p.month - 1) // 3 + 1}"
        return f"{p.year:04d}"

    def future(self, h: int) -> tuple[str, ...]:
        """The labels of the ``h`` steps after the last one, in the column's format: dates step by
        hours, days or weeks, or by whole months keeping the day (month ends stay month ends:
        ``2020-01-31`` -> ``2020-02-29``); ``1960Q4`` -> ``1961Q1``; ``1959-12`` -> ``1960-01``."""
        if isinstance(h, bool) or not isinstance(h, int) or h < 0:
            raise DataError(f"h: expected a whole number of steps >= 0, got {h!r}")
        return tuple(self._label(self._point(k)) for k in range(1, h + 1))

    def features(self, labels: Sequence[str], rows: Sequence[Any] | None = None) -> Any:
        """Calendar features of ``labels`` (n,) in this column's style and format (the history's, or
        :meth:`future`'s): an (n, 2C) float64 array, ``sin(2 pi p)`` and ``cos(2 pi p)`` of each cycle's
        phase ``p`` in [0, 1) (:attr:`feature_names`): hour-of-day ``(hour + minute/60)/24``,
        day-of-week ``weekday/7`` (Monday 0), day-of-year ``(yday - 1)/days_in_year``,
        month-of-year ``(month - 1)/12``, quarter-of-year ``(quarter - 1)/4``; a yearly column has
        none, (n, 0).  Future-known covariates: the same function of the date for history and future."""
        import numpy as np

        points = _points(labels, self.style, self.key, rows, "labels")[0]
        phase = {
            "hour-of-day": lambda p: (p.hour + p.minute / 60) / 24,
            "day-of-week": lambda p: p.weekday() / 7,
            "day-of-year": lambda p: (p.timetuple().tm_yday - 1) / (366 if _cal.isleap(p.year) else 365),
            "month-of-year": lambda p: (p.month - 1) / 12,
            "quarter-of-year": lambda p: ((p.month - 1) // 3) / 4,
        }
        cols = []
        for cycle in CALENDAR_FEATURES[self.frequency]:
            angle = 2 * math.pi * np.array([phase[cycle](p) for p in points], dtype=np.float64)
            cols += [np.sin(angle), np.cos(angle)]
        return np.stack(cols, axis=1) if cols else np.zeros((len(points), 0), dtype=np.float64)


def infer_calendar(labels: Sequence[str], rows: Sequence[Any] | None = None, *,
                   arg: str = "time_column") -> Calendar:
    """The :class:`Calendar` of a time column ``labels`` (n,) of text (see the module's table of styles).

    The step is the most common gap between consecutive labels: 1 hour, 1 day or 7 days for
    datetimes; 1 or 7 days, or 1, 3 or 12 months for dates; consecutive months, quarters or
    years for the other styles.  Every gap must be that step: the first that is not (a gap, a
    repeat, a step back), a label that does not parse or is in another format, a date column of
    one label (no step to see) and mixed days of the month are each one DataError starting
    ``<arg>:`` that names the offending row (``rows[i]`` when the caller's row labels are given,
    else the 0-based position) and what was expected."""
    points, style, key = _points(labels, None, None, rows, arg)
    if len(points) < 2 and style in ("date", "datetime"):
        raise DataError(f"{arg}: expected at least 2 {style} labels to see the step, got 1")
    gaps, unit = _steps(points, style)
    gaps_of = {"month": 1, "quarter": 3, "year": 12}  # a month style's step, in months
    step = Counter(gaps).most_common(1)[0][0] if gaps else gaps_of[style]
    if unit == "second":
        frequency = _SECONDS.get(step)
    elif unit == "day":
        frequency = _DAYS.get(step)
    else:
        frequency = next((f for f, n in _MONTHS.items() if n == step and gaps_of.get(style, n) == n), None)
    if style in gaps_of:
        expected = f"consecutive {style}s"
    elif frequency is not None:
        expected = f"steps of {_STEP_TEXT[frequency]}"
    else:
        expected = f"steps of {', '.join(_STEP_TEXT[f] for f in _ALLOWED[style][:-1])} or {_STEP_TEXT[_ALLOWED[style][-1]]}"
    # the first gap that is not the step; if the step itself is not allowed, the first gap of it
    bad = next((i + 1 for i, g in enumerate(gaps) if (g != step) == (frequency is not None)), None)
    if bad is not None:
        unit_text = {"second": "seconds", "day": "days", "month": "months"}[unit][:-1]
        shown = [str(lab).strip()[:40] for lab in labels]
        raise DataError(f"{arg}: {_where(bad, rows)} is {shown[bad]!r}, {_gap(gaps[bad - 1], unit_text)} "
                        f"{_where(bad - 1, rows)} {shown[bad - 1]!r}; expected {expected} "
                        "(a regular column with no gap, repeat or step back)")
    anchor = 0
    if style == "date" and frequency in _MONTHS:
        day = points[0].day
        ends = next((i for i, p in enumerate(points) if not _month_end(p)), None)  # the first not a month end
        same = next((i for i, p in enumerate(points) if p.day != day), None) if day <= 28 else 0
        if ends is not None and same is None:
            anchor = day
        elif ends is not None:  # neither reading holds: name the row that breaks the one that lasts longer
            off, like = (ends, "month ends") if ends >= same else (same, f"on day {day}")
            raise DataError(f"{arg}: {_where(off, rows)} is {labels[off].strip()!r}; expected every {frequency} "
                            f"date a month end or every one on the same day of the month from 1 to 28 (the rows "
                            f"before are {like})")
    return Calendar(frequency, style, key, points[-1], anchor)
