"""Geometry of the console's charts, drawn by the templates as inline SVG (no script, no
external asset): a SHAP waterfall per risk model and simple bar charts."""

from __future__ import annotations

import math
from typing import Any

WIDTH = 640
ROW = 26
LEFT = 280  # room for the feature labels
RIGHT = 70


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def waterfall(exp: dict[str, Any]) -> dict[str, Any]:
    """Bars of a SHAP waterfall from a stored explanation: the base value, each top
    contribution (red raises the risk, blue lowers it), the rest of the features, the raw
    score; x in log-odds. Labels carry the value and the contribution."""
    base = float(exp.get("base_value", 0.0))
    raw = float(exp.get("raw_score", base))
    contribs = exp.get("contributions") or []
    steps = [(f"{c.get('label') or c['feature']} = {_fmt(c.get('value'))}",
              float(c["contribution"])) for c in contribs]  # fmt: skip
    rest = raw - base - sum(v for _, v in steps)
    if abs(rest) > 1e-9:
        steps.append(("other features", rest))
    xs = [base]
    for _, v in steps:
        xs.append(xs[-1] + v)
    lo, hi = min(xs), max(xs)
    pad = max(0.1, (hi - lo) * 0.05)
    lo, hi = lo - pad, hi + pad
    span = WIDTH - LEFT - RIGHT

    def x(v: float) -> float:
        return round(LEFT + (v - lo) / (hi - lo) * span, 1)

    bars = []
    cur = base
    for i, (label, v) in enumerate(steps):
        a, b = x(cur), x(cur + v)
        bars.append({
            "y": (i + 1) * ROW, "x": min(a, b), "w": max(abs(b - a), 1.0), "label": label,
            "value": f"{v:+.3f}", "up": v > 0, "tx": max(a, b) + 4,
        })  # fmt: skip
        cur += v
    n = len(steps) + 2
    return {
        "width": WIDTH,
        "height": n * ROW + 10,
        "left": LEFT,
        "base_x": x(base),
        "final_x": x(raw),
        "final_y": (len(steps) + 1) * ROW,
        "bars": bars,
        "base": f"{base:.3f}",
        "raw": f"{raw:.3f}",
        "probability_base": f"{_sigmoid(base):.1%}",
        "probability": f"{float(exp.get('probability', _sigmoid(raw))):.1%}",
    }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "unknown" if v is None else str(v)


def bars(values: list[tuple[str, float]], width: int = 640, height: int = 160) -> dict[str, Any]:
    """A vertical bar chart of (label, value) pairs."""
    top = max((v for _, v in values), default=0.0) or 1.0
    n = max(len(values), 1)
    step = (width - 40) / n
    out = []
    for i, (label, v) in enumerate(values):
        h = round((height - 30) * v / top, 1)
        out.append({"x": round(30 + i * step, 1), "w": round(max(step * 0.7, 1), 1),
                    "y": round(height - 20 - h, 1), "h": h, "label": label, "value": v})  # fmt: skip
    return {"width": width, "height": height, "bars": out, "top": top, "base_y": height - 20}
