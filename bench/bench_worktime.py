"""How fast deadline() and working_time() are, against a naive minute-by-minute baseline.

Random (start, limit) pairs over 2025–2026 on the real holiday calendar, with the limit mix of a
matter catalogue (30 min report-in to 20 working days; one in ten categories 24×7). Starts and
limits are whole minutes, so the baseline's answers are exact and every sampled answer is also
checked against it. The baseline runs on a sample (it steps up to ~40,000 minutes per call).

Usage (from the repository root):
.venv/bin/python bench/bench_worktime.py                    # 100,000 calls, baseline on 1,000
.venv/bin/python bench/bench_worktime.py --calls 20000 --sample 200 --seed 3
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from chengzhi.worktime import Limit, OfficeHours, WorkCalendar, deadline, working_time

BEIJING = ZoneInfo("Asia/Shanghai")
HOURS, ALWAYS = OfficeHours(), OfficeHours.always()
MINUTE = timedelta(minutes=1)
LIMITS = [
    Limit(30, "minutes"),
    Limit(2, "hours"),
    Limit(0.5, "working_hours"),
    Limit(2, "working_hours"),
    Limit(4, "working_hours"),
    Limit(8, "working_hours"),
    Limit(1, "working_days"),
    Limit(3, "working_days"),
    Limit(5, "working_days"),
    Limit(10, "working_days"),
    Limit(20, "working_days"),
]
Case = tuple[datetime, Limit, OfficeHours]
Span = tuple[datetime, datetime, OfficeHours]


def make_cases(n: int, rng: random.Random) -> list[Case]:
    first = datetime(2025, 1, 1, tzinfo=UTC)
    minutes = int((datetime(2026, 12, 1, tzinfo=UTC) - first) / MINUTE)
    return [
        (
            first + rng.randrange(minutes) * MINUTE,
            rng.choice(LIMITS),
            ALWAYS if rng.random() < 0.1 else HOURS,
        )
        for _ in range(n)
    ]


def make_spans(cases: Sequence[Case], rng: random.Random) -> list[Span]:
    # Spans up to four weeks: a stage still open, looked at by the sweep.
    return [(start, start + rng.randrange(28 * 1440) * MINUTE, hours) for start, _, hours in cases]


# ---------------------------------------------------------------------------------------------
# The naive baseline: step one local minute at a time


def counts(local: datetime, hours: OfficeHours, calendar: WorkCalendar) -> bool:
    if hours.around_the_clock:
        return True
    now = local.time()
    in_period = any(start <= now < end for start, end in hours.periods)
    return in_period and calendar.is_working_day(local.date())


def naive_deadline(start: datetime, limit: Limit, hours: OfficeHours, cal: WorkCalendar):
    hours = ALWAYS if limit.wall_clock else hours
    per_unit = {"hours": 60, "minutes": 1, "working_hours": 60}.get(limit.unit)
    need = round(limit.amount * (per_unit or hours.day_seconds / 60))
    t = start.astimezone(BEIJING).replace(tzinfo=None)
    while need:
        need -= counts(t, hours, cal)
        t += MINUTE
    return t.replace(tzinfo=BEIJING).astimezone(UTC)


def naive_working_time(start: datetime, end: datetime, hours: OfficeHours, cal: WorkCalendar):
    t = start.astimezone(BEIJING).replace(tzinfo=None)
    stop = end.astimezone(BEIJING).replace(tzinfo=None)
    minutes = 0
    while t < stop:
        minutes += counts(t, hours, cal)
        t += MINUTE
    return minutes * 60.0


# ---------------------------------------------------------------------------------------------


def timed(call: Callable[[], list], n: int) -> tuple[list, float]:
    t0 = time.perf_counter()
    out = call()
    return out, (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--sample", type=int, default=1_000, help="calls for the naive baseline")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    cases = make_cases(args.calls, rng)
    spans = make_spans(cases, rng)
    sample, sample_spans = cases[: args.sample], spans[: args.sample]
    cal = WorkCalendar()  # one calendar, as a sweep would hold: its caches fill on first use

    dues, fast_d = timed(lambda: [deadline(s, lim, h, cal).at for s, lim, h in cases], len(cases))
    worked, fast_w = timed(
        lambda: [working_time(s, e, h, cal).seconds for s, e, h in spans], len(spans)
    )
    cal_naive = WorkCalendar()
    naive_dues, slow_d = timed(
        lambda: [naive_deadline(s, lim, h, cal_naive) for s, lim, h in sample], len(sample)
    )
    naive_worked, slow_w = timed(
        lambda: [naive_working_time(s, e, h, cal_naive) for s, e, h in sample_spans], len(sample)
    )
    bad_d = sum(a != b for a, b in zip(dues, naive_dues, strict=False))
    bad_w = sum(a != b for a, b in zip(worked, naive_worked, strict=False))
    print(f"{len(cases):,} calls each; naive baseline on {len(sample):,} (seed {args.seed})")
    print(f"  deadline()      {fast_d:8.2f} µs/call   naive {slow_d:10.1f} µs/call   ", end="")
    print(f"×{slow_d / fast_d:,.0f}   mismatches {bad_d}")
    print(f"  working_time()  {fast_w:8.2f} µs/call   naive {slow_w:10.1f} µs/call   ", end="")
    print(f"×{slow_w / fast_w:,.0f}   mismatches {bad_w}")


if __name__ == "__main__":
    main()
