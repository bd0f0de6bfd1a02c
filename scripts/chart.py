#!/usr/bin/env python3
"""Draws benchmarks/chart.svg from benchmarks/results.csv (no dependencies).

The CSV is what `cargo bench -p mesh-bench --bench compare` writes on a
full run. The chart shows the one-thread scenarios: median ns per event
against the number of receivers N (0, 1, 8, 64), one line per contender,
on a log scale (the contenders span three orders of magnitude).

    python3 scripts/chart.py [results.csv [chart.svg]]
"""

import csv
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "benchmarks" / "results.csv"
DST = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "benchmarks" / "chart.svg"

NS = [0, 1, 8, 64]
DIRECT = "direct (fastest copy)"
# Colour-blind-safe-ish palette; mesh's handles get the warm colours.
COLOURS = {
    DIRECT: "#000000",
    "rwlock": "#1f77b4",
    "arc-swap": "#17becf",
    "tokio-broadcast": "#7f7f7f",
    "signals2": "#8c564b",
    "bevy-observers": "#9467bd",
    "bevy-messages": "#c5b0d5",
    "crossbeam-channel": "#2ca02c",
    "mesh-signal": "#ff7f0e",
    "mesh-static": "#ffbb78",
    "mesh-publisher": "#d62728",
}


def load(path):
    series = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            scenario = row["scenario"]
            if not scenario.startswith("N=") or "," in scenario:
                continue
            n = int(scenario[2:])
            name, value = row["contender"], float(row["median_ns"])
            # The floor is the fastest of the direct loop's copies (see
            # `direct` in bench/benches/compare.rs): one line for all of them.
            if name == "direct" or name.startswith("direct-"):
                name = DIRECT
                value = min(value, series.get(name, {}).get(n, value))
            series.setdefault(name, {})[n] = value
    return series


def main():
    series = load(SRC)
    if not series:
        sys.exit(f"no one-thread rows in {SRC}")
    width, height = 860, 520
    left, right, top, bottom = 70, 210, 40, 60
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for s in series.values() for v in s.values() if v > 0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))

    def x(n):
        return left + NS.index(n) * plot_w / (len(NS) - 1)

    def y(v):
        v = max(v, lo)
        return top + plot_h * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{left}" y="22" font-size="15" font-weight="bold">'
        "ns per event against receivers N, one thread (median, log scale)</text>",
    ]
    # Grid: decades and their 2x / 5x.
    decade = lo
    while decade <= hi:
        for m in (1, 2, 5):
            v = decade * m
            if v > hi:
                break
            yy = y(v)
            stroke = "#cccccc" if m == 1 else "#eeeeee"
            out.append(f'<line x1="{left}" y1="{yy:.1f}" x2="{left + plot_w}" y2="{yy:.1f}" stroke="{stroke}"/>')
            label = f"{v:g}"
            out.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{label}</text>')
        decade *= 10
    for n in NS:
        xx = x(n)
        out.append(f'<line x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{top + plot_h}" stroke="#eeeeee"/>')
        out.append(f'<text x="{xx:.1f}" y="{top + plot_h + 18}" text-anchor="middle">N = {n}</text>')
    out.append(
        f'<text x="{left + plot_w / 2:.1f}" y="{height - 15}" text-anchor="middle">'
        "receivers (each adds to a counter)</text>"
    )
    out.append(
        f'<text x="18" y="{top + plot_h / 2:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 18 {top + plot_h / 2:.1f})">ns / event</text>'
    )
    order = sorted(series, key=lambda c: -series[c].get(64, 0))
    for i, name in enumerate(order):
        pts = [(x(n), y(series[name][n])) for n in NS if n in series[name]]
        colour = COLOURS.get(name, "#444444")
        w = 3 if name.startswith("mesh") or name == DIRECT else 1.5
        # Dashed: the floor; dotted: mesh-static, which mostly overlaps
        # mesh-signal (the same emit behind a static).
        dash = {DIRECT: ' stroke-dasharray="6 3"', "mesh-static": ' stroke-dasharray="2 3"'}.get(
            name, ""
        )
        path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="{w}"{dash}/>')
        for px, py in pts:
            out.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{colour}"/>')
        ly = top + 10 + i * 20
        lx = left + plot_w + 20
        out.append(f'<line x1="{lx}" y1="{ly}" x2="{lx + 24}" y2="{ly}" stroke="{colour}" stroke-width="{w}"{dash}/>')
        out.append(f'<text x="{lx + 30}" y="{ly + 4}">{name}</text>')
    out.append("</svg>")
    DST.parent.mkdir(parents=True, exist_ok=True)
    DST.write_text("\n".join(out) + "\n")
    print(f"wrote {DST}")


if __name__ == "__main__":
    main()
