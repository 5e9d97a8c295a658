"""How long planning the demo city takes at each scale, and what comes out.

Usage (from the repository root):
.venv/bin/python bench/bench_plan.py                 # small, city, megacity
.venv/bin/python bench/bench_plan.py megacity --seed 3
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from chengzhi.demo.plan import LEVELS, SCALES, plan_city


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scales", nargs="*", metavar="scale", help=", ".join(SCALES))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for scale in args.scales or list(SCALES):
        wall, cpu = time.perf_counter(), time.process_time()
        plan = plan_city(scale, args.seed)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        counts = plan.counts()
        city = plan.regions[0]
        print(f"{scale:>9}  {wall:6.2f} s wall  {cpu:6.2f} s cpu   seed {args.seed}")
        print("           " + "  ".join(f"{level} {counts[level]:,}" for level in LEVELS))
        kinds = Counter(_kind(r.level, r.name) for r in plan.regions if r.level != "grid")
        print("           " + "  ".join(f"{k} {n:,}" for k, n in sorted(kinds.items())))
        grids = plan.by_level("grid")
        for urban in (True, False):
            mine = [g.households for g in grids if g.urban == urban]
            if mine:
                label = "urban" if urban else "rural"
                print(
                    f"           {label} grids {len(mine):,}: "
                    f"{sum(mine) / len(mine):.0f} households each ({min(mine)}–{max(mine)})"
                )
        print(
            f"           population {city.population:,}  households {city.households:,}"
            f"  ({city.population / city.households:.2f} per household)"
        )


def _kind(level: str, name: str) -> str:
    if level == "district":
        return "县" if name.endswith("县") else "区"
    if level == "street":
        return "街道" if name.endswith("街道") else name[-1]
    if level == "community":
        return "社区" if name.endswith("社区") else "村"
    return level


if __name__ == "__main__":
    main()
