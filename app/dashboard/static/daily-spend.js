// Spend over the last 30 days: a stacked bar chart per team (SVG), its legend, and the CSV
// download.

import { api } from "./api.js";
import { $, build, h, problem } from "./elements.js";
import { fmt } from "./format.js";
import { handleAuth } from "./session.js";

const SERIES = 8; // colours in dashboard.css: .series-0 ... .series-7
const chart = { width: 640, height: 230, left: 44, right: 8, top: 10, bottom: 26 };

// The chart's <svg> is parsed from the HTML, so it already carries the SVG namespace.
const SVG_NS = $("daily-chart").namespaceURI;
const s = (tag, attrs, ...children) => build(SVG_NS, tag, attrs, children);

function niceMax(value) {
  if (value <= 0) return 10;
  const power = 10 ** Math.floor(Math.log10(value));
  const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= value);
  return step * power;
}

export function drawDaily(daily, teamOrder) {
  const svg = $("daily-chart");
  const days = daily.days || [];
  const series = (daily.teams || []).slice().sort(
    (a, b) => teamOrder.indexOf(a.team) - teamOrder.indexOf(b.team));
  const totals = daily.totals || days.map((_, i) => series.reduce((a, t) => a + t.spent[i], 0));
  const max = niceMax(Math.max(0, ...totals));
  const plotW = chart.width - chart.left - chart.right;
  const plotH = chart.height - chart.top - chart.bottom;
  const slot = plotW / Math.max(days.length, 1);
  const y = (v) => chart.top + plotH - (plotH * v) / max;
  const nodes = [];
  for (const tick of [0, max / 2, max]) {
    nodes.push(s("line", { class: "grid-line", x1: chart.left, x2: chart.width - chart.right,
      y1: y(tick), y2: y(tick) }));
    nodes.push(s("text", { class: "axis", x: chart.left - 6, y: y(tick) + 4,
      "text-anchor": "end", text: fmt(tick) }));
  }
  days.forEach((day, i) => {
    const x = chart.left + i * slot + slot * 0.15;
    const parts = [];
    let base = 0;
    series.forEach((team) => {
      const value = team.spent[i] || 0;
      if (value > 0) {
        const colour = teamOrder.indexOf(team.team);
        parts.push(s("rect", { class: `series-${(colour < 0 ? 0 : colour) % SERIES}`,
          x, width: slot * 0.7, y: y(base + value), height: y(base) - y(base + value),
          "data-team": team.team, "data-spent": value }));
        base += value;
      }
    });
    const detail = series.filter((t) => t.spent[i]).map((t) => `${t.team} ${fmt(t.spent[i])}`);
    nodes.push(s("g", { class: "day", "data-day": day, "data-total": totals[i] },
      s("title", { text: `${day}: ${fmt(totals[i])} credits` +
        (detail.length ? ` (${detail.join(", ")})` : "") }),
      // a full-height hit area, so an empty day still has a tooltip
      s("rect", { class: "hit", x: chart.left + i * slot, width: slot, y: chart.top,
        height: plotH }),
      ...parts));
    if (i % 5 === 0 || i === days.length - 1) {
      nodes.push(s("text", { class: "axis", x: x + slot * 0.35, y: chart.height - 8,
        "text-anchor": "middle", text: day.slice(5) }));
    }
  });
  svg.replaceChildren(...nodes);
  $("daily-legend").replaceChildren(...series.map((team) => {
    const colour = Math.max(teamOrder.indexOf(team.team), 0) % SERIES;
    const sum = team.spent.reduce((a, b) => a + b, 0);
    return h("li", { "data-team": team.team, "data-total": sum },
      h("span", { class: `swatch series-${colour}` }), `${team.team} ${fmt(sum)}`);
  }));
  const total = totals.reduce((a, b) => a + b, 0);
  $("daily-note").textContent = days.length
    ? `${days[0]} to ${days[days.length - 1]}: ${fmt(total)} credits in all.`
    : "";
  $("daily-csv").disabled = false;
}

export function dailyUnavailable(error) {
  $("daily-chart").replaceChildren();
  $("daily-legend").replaceChildren();
  $("daily-note").replaceChildren(problem(error));
  $("daily-csv").disabled = true;
}

// The CSV needs the token, which is a header: fetch it, then hand it over as a Blob URL.
export async function downloadCsv() {
  try {
    const response = await api("admin/spend/daily.csv?days=30");
    const blob = await response.blob();
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url,
      download: `rivya-spend-${new Date().toISOString().slice(0, 10)}.csv` });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 0);
  } catch (error) {
    if (!handleAuth(error)) $("daily-note").replaceChildren(problem(error));
  }
}
