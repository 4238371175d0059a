#!/usr/bin/env python3
"""Draws bench/compare_cluster.sh's JSON document as an SVG bar chart (bench/RESULTS.md).

usage: tools/draw_comparison.py RESULT.json OUT.svg [TITLE]

One group of bars per result (system, plan, streams): the measured tokens/s (median of the
rounds, each round a dot) and, for Lingua's plans, the planner's prediction beside it.
Plain SVG, no plotting library needed.
"""
import json
import sys

MEASURED, PREDICTED, DOT = "#4e79a7", "#bab0ac", "#222222"


def label(r):
    name = f"{r['system']} {r['plan']}"
    if r.get("tensor_split"):
        name += f" ({r['tensor_split']})"
    if r.get("devices_file"):
        name += " " + r["devices_file"].split("/")[-1].replace(".yaml", "")
    if r.get("streams", 1) > 1:
        name += f", {r['streams']} streams"
    return name


def main():
    doc = json.load(open(sys.argv[1]))
    out = sys.argv[2]
    title = sys.argv[3] if len(sys.argv) > 3 else f"{doc['scenario']}: decode tokens/s"
    rows = doc["results"]
    top = max([r["tokens_per_s"] for r in rows] + [r.get("predicted_tokens_per_s", 0) for r in rows] +
              [x for r in rows for x in r.get("rounds", [])] + [1e-9])
    left, bar_h, gap, width = 300, 12, 14, 440
    height = 50 + len(rows) * (2 * bar_h + gap) + 30
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 80}" height="{height}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="100%" height="100%" fill="white"/>',
           f'<text x="10" y="20" font-size="14" font-weight="bold">{title}</text>',
           f'<rect x="{left}" y="28" width="10" height="10" fill="{MEASURED}"/><text x="{left + 14}" y="37">measured (median; dots: rounds)</text>',
           f'<rect x="{left + 220}" y="28" width="10" height="10" fill="{PREDICTED}"/><text x="{left + 234}" y="37">predicted by the planner</text>']
    y = 50
    for r in rows:
        w = width * r["tokens_per_s"] / top
        svg.append(f'<text x="{left - 6}" y="{y + bar_h}" text-anchor="end">{label(r)}</text>')
        svg.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{MEASURED}"/>')
        svg.append(f'<text x="{left + w + 4:.1f}" y="{y + bar_h - 2}">{r["tokens_per_s"]:.2f}</text>')
        for x in r.get("rounds", []):
            svg.append(f'<circle cx="{left + width * x / top:.1f}" cy="{y + bar_h / 2}" r="2" fill="{DOT}"/>')
        if r.get("predicted_tokens_per_s"):
            p = width * r["predicted_tokens_per_s"] / top
            svg.append(f'<rect x="{left}" y="{y + bar_h}" width="{p:.1f}" height="{bar_h}" fill="{PREDICTED}"/>')
            svg.append(f'<text x="{left + p + 4:.1f}" y="{y + 2 * bar_h - 2}" fill="#555">{r["predicted_tokens_per_s"]:.2f}</text>')
        y += 2 * bar_h + gap
    svg.append(f'<line x1="{left}" y1="46" x2="{left}" y2="{y}" stroke="#888"/>')
    svg.append("</svg>")
    with open(out, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
