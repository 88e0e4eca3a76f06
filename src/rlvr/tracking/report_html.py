"""The report page: one self-contained HTML file (plots as data: URIs, inline CSS and JS, no network).

Every piece of run text (completions, prompts, data_source names, config) is untrusted: it goes through
``html.escape``. A Content-Security-Policy allows no network access and runs only this page's own script
(by its hash), so a completion that slipped through escaping could still not run code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Sequence
from html import escape
from typing import Any

from rlvr.tracking.report import RunData, eval_table, summary_table
from rlvr.tracking.report_plots import number, series

MAX_TEXT = 20_000
"""Characters of one prompt or completion shown; the rest is cut with a note."""

SCRIPT = """
(() => {
  const rows = Array.from(document.querySelectorAll("#samples tbody tr"));
  const text = rows.map((r) => r.textContent.toLowerCase());
  const source = document.getElementById("f-source");
  const correct = document.getElementById("f-correct");
  const search = document.getElementById("f-search");
  const count = document.getElementById("f-count");
  function apply() {
    const s = source.value, c = correct.value, q = search.value.trim().toLowerCase();
    let shown = 0;
    rows.forEach((r, i) => {
      const ok = (!s || r.dataset.source === s) && (!c || r.dataset.correct === c) && (!q || text[i].includes(q));
      r.hidden = !ok;
      shown += ok ? 1 : 0;
    });
    count.textContent = shown + " of " + rows.length + " shown";
  }
  [source, correct, search].forEach((el) => el.addEventListener("input", apply));
  apply();
})();
"""

STYLE = """
:root { --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bg:#f8fafc; --card:#fff; --accent:#2563eb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
main { max-width:1240px; margin:0 auto; padding:28px 24px 48px; }
header h1 { margin:0; font-size:22px; font-weight:650; }
header .sub { color:var(--muted); font-size:13px; margin-top:2px; }
h2 { font-size:16px; margin:32px 0 12px; font-weight:650; }
h2 .note { color:var(--muted); font-weight:400; font-size:13px; margin-left:8px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:12px; margin-top:20px; }
.card, .panel { background:var(--card); border:1px solid var(--line); border-radius:10px; }
.card { padding:12px 16px; }
.card .label { color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.04em; }
.card .value { font-size:22px; font-weight:600; font-variant-numeric:tabular-nums; }
.panel { overflow:auto; }
table { border-collapse:collapse; width:100%; font-size:13px; }
th, td { padding:7px 12px; border-bottom:1px solid var(--line); text-align:left; vertical-align:top; }
th { background:#f3f4f6; font-weight:600; color:#374151; position:sticky; top:0; z-index:1; }
tbody tr:last-child td { border-bottom:none; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
code { font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; }
.split { display:grid; grid-template-columns:repeat(auto-fit,minmax(440px,1fr)); gap:0 18px; }
.plots { display:grid; grid-template-columns:repeat(auto-fill,minmax(540px,1fr)); gap:14px; }
.plots figure { margin:0; padding:8px; background:var(--card); border:1px solid var(--line); border-radius:10px; }
.plots img { width:100%; height:auto; display:block; }
.filters { display:flex; gap:10px; align-items:center; flex-wrap:wrap; margin-bottom:10px; }
.filters select, .filters input { font:inherit; padding:6px 10px; border:1px solid #d1d5db; border-radius:6px; background:#fff; }
.filters input { flex:1; min-width:220px; }
.filters .count { color:var(--muted); font-size:13px; }
#samples td { font-size:12.5px; }
#samples pre { margin:0; white-space:pre-wrap; word-break:break-word; max-height:14em; overflow:auto;
  font:12px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; background:#f9fafb;
  border:1px solid #f1f5f9; border-radius:6px; padding:6px 8px; }
#samples pre.prompt { max-height:8em; color:#374151; }
#samples .obs { background:#eef2ff; border-left:3px solid #6366f1; color:#3730a3; font-style:italic; margin:2px 0; padding:0 4px; }
#samples .act { margin:2px 0; padding:0 4px; }
#samples details { margin-top:4px; color:var(--muted); }
.badge { display:inline-block; padding:1px 8px; border-radius:999px; font-size:12px; font-weight:600; }
.ok { background:#dcfce7; color:#166534; } .bad { background:#fee2e2; color:#991b1b; } .na { background:#f3f4f6; color:#6b7280; }
.trunc { color:#b45309; font-weight:600; }
.empty { color:var(--muted); padding:16px; }
details.config pre { margin:0; padding:12px 16px; font:12px/1.45 ui-monospace,Menlo,Consolas,monospace; }
details.config summary { cursor:pointer; padding:10px 16px; font-weight:600; }
footer { color:var(--muted); font-size:12px; margin-top:36px; }
"""


def fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    return f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4g}"


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    """A table; cells are already-escaped HTML; columns from ``numeric_from`` on align right."""
    cls = [' class="num"' if i >= numeric_from else "" for i in range(len(headers))]
    head = "".join(f"<th{c}>{escape(h)}</th>" for c, h in zip(cls, headers, strict=True))
    body = "".join(
        "<tr>" + "".join(f"<td{c}>{v}</td>" for c, v in zip(cls, r, strict=True)) + "</tr>" for r in rows
    )
    return f'<div class="panel"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _last(rows: Sequence[dict[str, Any]], key: str) -> float | None:
    _, values = series(rows, key)
    return values[-1] if values else None


def _cards(data: RunData) -> str:
    rows = data.metrics or data.sft
    steps = max((r["step"] for r in rows if isinstance(r.get("step"), int)), default=0)
    _, step_times = series(rows, "perf/step_s")
    cards = [
        ("steps", fmt(steps)),
        ("final reward", fmt(_last(data.metrics, "reward/all/reward_mean"))),
        ("train accuracy", fmt(_last(data.metrics, "reward/all/accuracy"))),
        ("eval accuracy", fmt(_last(data.metrics, "eval/all/accuracy"))),
        ("mean step time", f"{fmt(sum(step_times) / len(step_times))} s" if step_times else "–"),
        ("total step time", _duration(sum(step_times)) if step_times else "–"),
    ]
    if data.sft:
        cards.insert(1, ("final SFT loss", fmt(_last(data.sft, "sft/loss"))))
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="label">{escape(k)}</div><div class="value">{escape(v)}</div></div>'
            for k, v in cards
        )
        + "</div>"
    )


def _duration(seconds: float) -> str:
    minutes, s = divmod(int(round(seconds)), 60)
    h, m = divmod(minutes, 60)
    return f"{h}h {m:02d}m" if h else f"{m}m {s:02d}s"


def _summary(data: RunData) -> str:
    sft = [
        (k if k.startswith("sft/") else f"{k} (SFT)", first, final, mean)
        for k, first, final, mean in summary_table(data.sft)
    ]
    rows = summary_table(data.metrics) + sft
    if not rows:
        return ""
    cells = [
        (f"<code>{escape(k)}</code>", fmt(first), fmt(final), fmt(mean)) for k, first, final, mean in rows
    ]
    return "<h2>Summary</h2>" + _table(("metric", "first", "final", "mean"), cells)


def _eval(data: RunData) -> str:
    step, columns, table = eval_table(data.metrics)
    if not table:
        return ""
    cells = [[escape(src)] + [fmt(vals.get(c)) for c in columns] for src, vals in table.items()]
    note = f'<span class="note">latest evaluation, step {escape(str(step))}</span>'
    return f"<h2>Evaluation{note}</h2>" + _table(["data_source", *columns], cells)


def _tables(data: RunData) -> str:
    """Summary and evaluation side by side (stacked on narrow screens)."""
    parts = [p for p in (_summary(data), _eval(data)) if p]
    return f'<div class="split">{"".join(f"<section>{p}</section>" for p in parts)}</div>' if parts else ""


def _plots(plots: Sequence[tuple[str, str, bytes]]) -> str:
    if not plots:
        return '<h2>Training curves</h2><div class="panel empty">No metrics to plot yet.</div>'
    figures = "".join(
        f'<figure id="plot-{escape(name)}"><img alt="{escape(title)}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode()}"></figure>'
        for name, title, png in plots
    )
    return f'<h2>Training curves</h2><div class="plots">{figures}</div>'


def _text(value: Any) -> str:
    """Prompt or completion as plain text: chat messages become 'role: content' blocks."""
    if isinstance(value, list) and all(isinstance(m, dict) for m in value):
        value = "\n\n".join(f"{m.get('role', '?')}: {m.get('content', '')}" for m in value)
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + f"\n… [{len(text) - MAX_TEXT:,} more characters not shown]"
    return escape(text)


def _sample_row(s: dict[str, Any]) -> str:
    correct = s.get("correct")
    key = "true" if correct is True else "false" if correct is False else "none"
    badge = {
        "true": '<span class="badge ok">correct</span>',
        "false": '<span class="badge bad">wrong</span>',
        "none": '<span class="badge na">n/a</span>',
    }[key]
    finish = escape(str(s.get("finish_reason", "")))
    finish = f'<span class="trunc">{finish}</span>' if finish == "length" else finish
    info = s.get("info")
    info_html = (
        f"<details><summary>info</summary><pre>{_text(json.dumps(info, indent=1, ensure_ascii=False, default=str))}</pre></details>"
        if info
        else ""
    )
    return (
        f'<tr data-source="{escape(str(s.get("data_source", "")))}" data-correct="{key}">'
        f'<td class="num">{escape(str(s.get("step", "")))}</td>'
        f"<td>{escape(str(s.get('data_source', '')))}<br><code>{escape(str(s.get('verifier', '')))}</code></td>"
        f'<td class="num">{fmt(number(s.get("reward")))}</td>'
        f"<td>{badge}</td><td>{finish}</td>"
        f'<td><pre class="prompt">{_text(s.get("prompt", ""))}</pre></td>'
        f"<td>{_completion(s)}{info_html}</td></tr>"
    )


def _completion(s: dict[str, Any]) -> str:
    """A completion, or a multi-turn episode as a conversation: the model's turns as plain text (each
    with its turn reward), the environment's observations (tokens the model never generated) in marked
    blocks."""
    turns = s.get("turns")
    if not isinstance(turns, list):
        return f"<pre>{_text(s.get('completion', ''))}</pre>"
    rewards = s.get("turn_rewards")
    rewards = rewards if isinstance(rewards, list) else []
    parts, actions = [], 0
    for turn in turns:
        kind = turn.get("kind") if isinstance(turn, dict) else None
        text = _text(turn.get("text", "") if isinstance(turn, dict) else turn)
        if kind == "observation":
            parts.append(
                f'<div class="obs" title="observation: not generated, not trained"><b>env</b> {text}</div>'
            )
        elif kind == "action":
            r = rewards[actions] if actions < len(rewards) else None
            reward = f' <span class="note">reward {r:g}</span>' if isinstance(r, int | float) else ""
            parts.append(f'<div class="act"><b>model</b> {text}{reward}</div>')
            actions += 1
    stop = escape(str(s.get("stop_reason", "")))
    return f'<pre class="conv">{"".join(parts)}</pre><span class="note">stop: {stop}</span>'


def _samples(data: RunData) -> str:
    if not data.samples:
        return ""
    sources = sorted({str(s.get("data_source", "")) for s in data.samples})
    options = "".join(f'<option value="{escape(x)}">{escape(x)}</option>' for x in sources)
    shown = (
        f"the latest {len(data.samples):,} of {data.samples_total:,}"
        if data.samples_total > len(data.samples)
        else ""
    )
    filters = (
        '<div class="filters">'
        f'<select id="f-source" aria-label="data_source"><option value="">all data sources</option>{options}</select>'
        '<select id="f-correct" aria-label="correct"><option value="">correct and wrong</option>'
        '<option value="true">correct</option><option value="false">wrong</option><option value="none">not judged</option></select>'
        '<input id="f-search" type="search" placeholder="Search prompts and completions…" aria-label="search">'
        '<span class="count" id="f-count"></span></div>'
    )
    head = "".join(
        f"<th{c}>{h}</th>"
        for h, c in (
            ("step", ' class="num"'),
            ("source / verifier", ""),
            ("reward", ' class="num"'),
            ("correct", ""),
            ("finish", ""),
            ("prompt", ' style="width:28%"'),
            ("completion", ' style="width:40%"'),
        )
    )
    body = "".join(_sample_row(s) for s in data.samples)
    note = f'<span class="note">{escape(shown)}</span>' if shown else ""
    return (
        f"<h2>Sample rollouts{note}</h2>{filters}"
        f'<div class="panel"><table id="samples"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def _config(data: RunData) -> str:
    if not data.config_text:
        return ""
    return (
        '<h2>Config</h2><div class="panel"><details class="config"><summary>config.yaml</summary>'
        f"<pre>{escape(data.config_text)}</pre></details></div>"
    )


def render_page(data: RunData, plots: Sequence[tuple[str, str, bytes]]) -> str:
    """The whole page as one string."""
    name = escape(data.run_dir.resolve().name)
    script_hash = base64.b64encode(hashlib.sha256(SCRIPT.encode()).digest()).decode()
    script = f"<script>{SCRIPT}</script>" if data.samples else ""  # it drives the samples' filters
    csp = f"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'sha256-{script_hash}'"
    warning = (
        f'<div class="panel empty">{data.bad_lines} line(s) that were not JSON were skipped.</div>'
        if data.bad_lines
        else ""
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{name} · rlvr report</title><style>{STYLE}</style></head><body><main>"
        f'<header><h1>{name}</h1><div class="sub">rlvr run report · {escape(str(data.run_dir.resolve()))} · '
        f"generated {escape(time.strftime('%Y-%m-%d %H:%M'))}</div></header>"
        f"{_cards(data)}{warning}{_tables(data)}{_plots(plots)}{_samples(data)}{_config(data)}"
        "<footer>Written by <code>rlvr report</code>. Curves with many points show the raw values faintly and a "
        "centered moving average on top. Sample rollouts are listed newest first.</footer>"
        f"</main>{script}</body></html>\n"
    )
