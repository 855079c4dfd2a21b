"""rnnx.data.calendar: frequency, period, continuation and calendar features of a time column,
against pandas (``pd.date_range``, ``pd.period_range``) on many generated columns; refusals name
the first offending row."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rnnx.data import DataError
from rnnx.data.calendar import SEASONAL_PERIODS, infer_calendar

#: (pandas frequency, label format, our frequency): date_range columns.
DATE_RANGES = [("h", "%Y-%m-%d %H:%M", "hourly"), ("h", "%Y-%m-%dT%H:%M:%S", "hourly"), ("D", "%Y-%m-%d", "daily"),
               ("D", "%Y-%m-%d %H:%M", "daily"), ("W-SUN", "%Y-%m-%d", "weekly"), ("W-WED", "%Y-%m-%d", "weekly"),
               ("ME", "%Y-%m-%d", "monthly"), ("MS", "%Y-%m-%d", "monthly"), ("QE", "%Y-%m-%d", "quarterly"),
               ("QE-NOV", "%Y-%m-%d", "quarterly"), ("QS-FEB", "%Y-%m-%d", "quarterly"), ("YE", "%Y-%m-%d", "yearly"),
               ("YS", "%Y-%m-%d", "yearly"), ("YE-JUN", "%Y-%m-%d", "yearly")]


def _starts(k: int, seed: int) -> list[pd.Timestamp]:
    rng = np.random.default_rng(seed)
    base = pd.Timestamp("1950-01-01")
    return [base + pd.Timedelta(days=int(d), hours=int(h)) for d, h in zip(rng.integers(0, 30000, k),
                                                                            rng.integers(0, 24, k))]


CASES = [(f, fmt, ours, start) for j, (f, fmt, ours) in enumerate(DATE_RANGES) for start in _starts(6, j)]


def _pandas_phases(idx: pd.DatetimeIndex, frequency: str) -> list[np.ndarray]:
    """Each cycle's phase in [0, 1) from pandas' own calendar fields, in CALENDAR_FEATURES order."""
    days_in_year = np.where(idx.is_leap_year, 366, 365)
    table = {"hourly": [(idx.hour + idx.minute / 60) / 24, idx.dayofweek / 7],
             "daily": [idx.dayofweek / 7, (idx.dayofyear - 1) / days_in_year],
             "weekly": [(idx.dayofyear - 1) / days_in_year], "monthly": [(idx.month - 1) / 12],
             "quarterly": [(idx.quarter - 1) / 4], "yearly": []}
    return [np.asarray(p, dtype=np.float64) for p in table[frequency]]


@pytest.mark.parametrize(("freq", "fmt", "ours", "start"), CASES,
                         ids=[f"{f}-{fmt[-2:]}-{s:%Y%m%d}" for f, fmt, _, s in CASES])
def test_date_range_columns(freq, fmt, ours, start):
    if ours in ("hourly",) or "%H" in fmt:
        first = start
    else:
        first = start.normalize()
    idx = pd.date_range(first, periods=40, freq=freq)
    labels = idx.strftime(fmt).tolist()
    cal = infer_calendar(labels[:28])
    assert (cal.frequency, cal.period) == (ours, SEASONAL_PERIODS[ours])
    assert list(cal.future(12)) == labels[28:]
    feats = cal.features(labels)
    phases = _pandas_phases(idx, ours)
    assert feats.shape == (40, 2 * len(phases)) and len(cal.feature_names) == feats.shape[1]
    for j, p in enumerate(phases):
        np.testing.assert_allclose(feats[:, 2 * j], np.sin(2 * math.pi * p), rtol=0, atol=1e-15)
        np.testing.assert_allclose(feats[:, 2 * j + 1], np.cos(2 * math.pi * p), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(cal.features(cal.future(12)), feats[28:])  # future like history


def test_monthly_on_a_day_of_the_month():
    for day in (1, 9, 28):  # 2019-02-28 is a month end too: the rows are read as day 28
        idx = pd.date_range(f"2019-{2 if day == 28 else 10:02d}-{day:02d}", periods=30, freq=pd.DateOffset(months=1))
        labels = idx.strftime("%Y-%m-%d").tolist()
        cal = infer_calendar(labels[:18])
        assert cal.frequency == "monthly" and list(cal.future(12)) == labels[18:]
        q = pd.date_range(f"2019-10-{day:02d}", periods=30, freq=pd.DateOffset(months=3)).strftime("%Y-%m-%d").tolist()
        assert infer_calendar(q[:10]).frequency == "quarterly" and list(infer_calendar(q[:10]).future(20)) == q[10:]


@pytest.mark.parametrize(("freq", "start", "ours"), [("Q", "1959Q1", "quarterly"), ("Q", "1999Q3", "quarterly"),
                                                     ("M", "1959-01", "monthly"), ("M", "2023-11", "monthly"),
                                                     ("Y", "1959", "yearly"), ("Y", "1899", "yearly")])
def test_period_range_columns(freq, start, ours):
    labels = [str(p) for p in pd.period_range(start, periods=30, freq=freq)]
    cal = infer_calendar(labels[:20])
    assert cal.frequency == ours and list(cal.future(10)) == labels[20:]
    assert infer_calendar(labels[:1]).future(3) == tuple(labels[1:4])  # one label is enough for these
    idx = pd.period_range(start, periods=30, freq=freq).to_timestamp()
    for j, p in enumerate(_pandas_phases(idx, ours)):
        np.testing.assert_allclose(cal.features(labels)[:, 2 * j], np.sin(2 * math.pi * p), atol=1e-15)


def test_label_formats_are_kept():
    assert infer_calendar(["1960Q3", "1960Q4"]).future(2) == ("1961Q1", "1961Q2")
    assert infer_calendar(["1960-Q4"]).future(1) == ("1961-Q1",)
    assert infer_calendar(["2020-01-31", "2020-02-29"]).future(3) == ("2020-03-31", "2020-04-30", "2020-05-31")
    assert infer_calendar(["2020-03-01T22:00", "2020-03-01T23:00"]).future(2) == ("2020-03-02T00:00",
                                                                                  "2020-03-02T01:00")
    assert infer_calendar([" 1959-12 "]).future(1) == ("1960-01",)
    assert infer_calendar(["1959"]).features(["1959", "1960"]).shape == (2, 0)
    assert infer_calendar(["2020-01-01", "2020-01-02"]).future(0) == ()


@pytest.mark.parametrize(("labels", "message"), [
    (["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"],
     r"^time_column: row 4 is '2020-01-04', 2 days after row 3 '2020-01-02'; expected steps of 1 day \(a "),
    (["2020-01-01", "2020-01-02", "2020-01-02"], r"^time_column: row 4 is '2020-01-02', 0 days after row 3"),
    (["2020-01-03", "2020-01-02", "2020-01-01"], r"^time_column: row 3 is '2020-01-02', -1 day after row 2"),
    (["2020-01-31", "2020-02-29", "2020-03-30"],
     r"^time_column: row 4 is '2020-03-30'; expected every monthly date a month end .*\(the rows before are month ends\)$"),
    (["2020-01-15", "2020-02-16", "2020-03-15"], r"^time_column: row 3 is '2020-02-16'; .*\(the rows before are on day 15\)$"),
    (["2020-01-30", "2020-03-30", "2020-05-30"], r"^time_column: row 3 is '2020-03-30', 2 months after row 2 "
                                                 r"'2020-01-30'; expected steps of 1 day, 7 days, 1 month, 3 months or 12 months"),
    (["2020-01-05", "2020-01-12", "2020-01-26", "2020-02-02"],
     r"^time_column: row 4 is '2020-01-26', 14 days after row 3 '2020-01-12'; expected steps of 7 days \(a "),
    (["2020-01-31", "2020-02-29", "2020-04-30"], r"^time_column: row 4 is '2020-04-30', 2 months after row 3 "
                                                 r"'2020-02-29'; expected steps of 1 month \(a "),
    (["1959", "1961"], r"^time_column: row 3 is '1961', 24 months after row 2 '1959'; expected consecutive years"),
    (["1959Q1", "1959Q2", "1959Q4"], r"^time_column: row 4 is '1959Q4', 6 months after row 3 '1959Q2'; "
                                     r"expected consecutive quarters"),
    (["2020-01-01 00:00", "2020-01-01 00:30"], r"^time_column: row 3 is '2020-01-01 00:30', 1800 seconds after"),
    (["x", "y"], r"^time_column: row 2 is 'x'; expected a date or time like 2020-01-31 13:00, 2020-01-31, 1959-01"),
    (["2020-01-01", "2020-02-30"], r"^time_column: row 3 is '2020-02-30'; expected a valid date in the format"),
    (["2020-01-01", "2020-01"], r"^time_column: row 3 is '2020-01'; expected a valid date in the format"),
    (["2020-01-01 10:00", "2020-01-01 11:00:00"], r"^time_column: row 3 is '2020-01-01 11:00:00'; expected a valid "
                                                  r"datetime in the format of the column's first label"),
    (["2020-01-01"], r"^time_column: expected at least 2 date labels to see the step, got 1$"),
    (["1959", 1960], r"^time_column: row 3 is 1960; expected a time label \(text\)$"),
])
def test_refusals_name_the_first_offending_row(labels, message):
    with pytest.raises(DataError, match=message):
        infer_calendar(labels, rows=list(range(2, 2 + len(labels))))


def test_refusals_without_rows_and_of_bad_arguments():
    with pytest.raises(DataError, match=r"^time_column: position 2 is '2020-01-04', 2 days after position 1"):
        infer_calendar(["2020-01-01", "2020-01-02", "2020-01-04", "2020-01-05"])
    with pytest.raises(DataError, match=r"^date: expected a non-empty list of time labels, got '2020'$"):
        infer_calendar("2020", arg="date")
    cal = infer_calendar(["2020-01-01", "2020-01-02"])
    with pytest.raises(DataError, match=r"^h: expected a whole number of steps >= 0, got -1$"):
        cal.future(-1)
    with pytest.raises(DataError, match=r"^labels: position 0 is '2020-01'; expected a valid date"):
        cal.features(["2020-01"])
    with pytest.raises(DataError, match=r"^h: 1 steps after '9999-12' is beyond the year 9999$"):
        infer_calendar(["9999-12"]).future(1)
