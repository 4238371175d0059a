#!/usr/bin/env python3
"""Draws the plans `lingua plan` finds for a devices file as an SVG (docs/planner-hetero3.svg).

usage: tools/draw_plans.py LINGUA MODEL.gguf DEVICES.yaml OUT.svg

One row per plan and objective; each bar is the chain of devices, a box per device as wide as its
predicted compute time per token, labelled with its layers; the link time into each device is
drawn as a grey gap. Plain SVG, no plotting library needed.
"""
import json
import subprocess
import sys

COLOURS = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7"]


def plans(lingua, model, devices, objective):
    out = subprocess.run([lingua, "plan", "-m", model, "--devices", devices, "--objective", objective, "--json"],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    lingua, model, devices, out_path = sys.argv[1:]
    docs = {o: plans(lingua, model, devices, o) for o in ("latency", "throughput")}
    names = []  # file order first: the even plan lists every device in it
    for doc in docs.values():
        for p in sorted(doc["plans"], key=lambda q: q["name"] != "even"):
            for a in p["assignments"]:
                if a["device"] not in names:
                    names.append(a["device"])
    colour = {n: COLOURS[i % len(COLOURS)] for i, n in enumerate(names)}
    rows = []
    for objective, doc in docs.items():
        for p in doc["plans"]:
            rows.append((objective, p))
    longest = max(sum(a["compute_ms"] + a["link_ms"] for a in p["assignments"]) for _, p in rows)
    left, width, row_h, top = 250, 620, 44, 60
    scale = width / longest
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{left + width + 40}" height="{top + row_h * len(rows) + 70}" '
           'font-family="sans-serif" font-size="12">',
           f'<text x="10" y="22" font-size="15" font-weight="bold">Plans for {model.split("/")[-1]} on '
           f'{devices.split("/")[-1]} (predicted, per token)</text>',
           '<text x="10" y="42" fill="#555">box width = compute ms on that device; grey = link ms into it; '
           'labels: layers</text>']
    y = top
    for objective, p in rows:
        tps = p["predicted_tokens_per_s"]
        label = f'{objective}: {p["name"]}' + (f" {tps:.2f} tok/s" if p["feasible"] else " (does not fit)")
        svg.append(f'<text x="10" y="{y + 22}">{label}</text>')
        x = left
        for a in p["assignments"]:
            gap = a["link_ms"] * scale
            svg.append(f'<rect x="{x:.1f}" y="{y + 8}" width="{gap:.1f}" height="24" fill="#ccc"/>')
            x += gap
            w = a["compute_ms"] * scale
            svg.append(f'<rect x="{x:.1f}" y="{y + 8}" width="{w:.1f}" height="24" fill="{colour[a["device"]]}"/>')
            if w > 30:
                svg.append(f'<text x="{x + 4:.1f}" y="{y + 25}" fill="white">{a["layers"]}</text>')
            x += w
        y += row_h
    lx = 10
    for n in names:
        svg.append(f'<rect x="{lx}" y="{y + 15}" width="14" height="14" fill="{colour[n]}"/>'
                   f'<text x="{lx + 20}" y="{y + 27}">{n}</text>')
        lx += 30 + 8 * len(n)
    svg.append(f'<text x="{left}" y="{y + 55}" fill="#555">{longest:.0f} ms = full width</text>')
    svg.append("</svg>")
    with open(out_path, "w") as f:
        f.write("\n".join(s for s in svg if s) + "\n")


if __name__ == "__main__":
    main()
