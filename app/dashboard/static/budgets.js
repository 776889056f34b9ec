// Spend against budget, from this period's spend report: a bar per team, and the In flight and
// Results kept cards; the Spent card, from today's report (UTC).

import { $, h, problem, setText } from "./elements.js";
import { fmt, periodLabel, plural } from "./format.js";

// A bar's full width is the team's budget; without one, the largest use of any team.
function budgetRow(row, largest) {
  const budget = row.budget_credits;
  const spent = row.spent_credits;
  const reserved = row.reserved_credits;
  const scale = budget ? Math.max(budget, spent + reserved) : Math.max(largest, 1);
  const used = budget ? (spent + reserved) / budget : 0;
  const level = !budget ? "none" : used >= 1 ? "over" : used >= 0.8 ? "high" : "ok";
  const spentBar = h("span", { class: "bar-spent" });
  const reservedBar = h("span", { class: "bar-reserved" });
  // Widths through the CSSOM: allowed by style-src 'self', unlike a style attribute.
  spentBar.style.width = `${(100 * spent) / scale}%`;
  reservedBar.style.width = `${(100 * reserved) / scale}%`;
  const byModel = Object.entries(row.by_model || {})
    .filter(([, credits]) => credits > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([model, credits]) => `${model} ${fmt(credits)}`)
    .join(" · ");
  return h("div", {
    class: `budget level-${level}`,
    "data-team": row.team,
    "data-spent": spent,
    "data-reserved": reserved,
    "data-budget": budget === null ? "" : budget,
    "data-remaining": row.remaining_credits === null ? "" : row.remaining_credits,
  },
    h("div", { class: "budget-head" },
      h("span", { class: "team-name", text: row.name || row.team }),
      h("span", { class: "muted small", text: ` ${row.team} · ${periodLabel(row.period, row.period_id)}` }),
      h("span", { class: "budget-figures" },
        h("strong", { class: "spent", text: fmt(spent) }),
        " / ",
        h("span", { class: "budget-value", text: budget === null ? "no budget" : fmt(budget) }),
        budget === null ? "" : " credits")),
    h("div", { class: "bar", role: "img",
      "aria-label": `${row.team}: ${spent} spent, ${reserved} reserved` +
        (budget === null ? ", no budget" : ` of ${budget}`) },
      spentBar, reservedBar),
    h("div", { class: "budget-foot small muted" },
      reserved ? `${fmt(reserved)} reserved · ` : "",
      budget === null ? "" : `${fmt(row.remaining_credits)} left · `,
      `${plural(row.in_flight, "task", "tasks")} in flight`,
      byModel ? ` · ${byModel}` : ""));
}

function drawBudgets(spend) {
  const rows = spend.teams || [];
  const box = $("budgets");
  const largest = Math.max(0, ...rows.map((row) => row.spent_credits + row.reserved_credits));
  if (!rows.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No teams yet."));
    return;
  }
  box.replaceChildren(
    h("div", { class: "legend-inline small muted" },
      h("span", { class: "swatch bar-spent" }), " spent ",
      h("span", { class: "swatch bar-reserved" }), " reserved (in flight)"),
    ...rows.map((row) => budgetRow(row, largest)));
}

export function drawSpend(spend) {
  drawBudgets(spend);
  const totals = spend.totals || {};
  setText("total-in-flight", fmt(totals.in_flight), { count: totals.in_flight });
  const kept = totals.results || { bytes: 0, objects: 0 };
  setText("results-kept", bytesText(kept.bytes), { bytes: kept.bytes });
  setText("results-kept-note", `${plural(kept.objects, "copy", "copies")} in the results store`);
}

function bytesText(bytes) {
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = bytes || 0;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit ? value.toFixed(1) : value} ${units[unit]}`;
}

// The Spent card: today's spend (UTC) over every team, from today's report. Not the sum of
// each team's own period: a day's, a week's and a month's budgets add up to no one period.
export function drawSpentToday(today) {
  const totals = today.totals || {};
  setText("total-spent", fmt(totals.spent_credits), { credits: totals.spent_credits });
  setText("total-reserved", `since 00:00 UTC · ${fmt(totals.reserved_credits)} reserved`);
}

export function spentTodayUnavailable(error) {
  setText("total-spent", "–", { credits: "" });
  setText("total-reserved", error && error.message ? error.message : "unavailable");
}

export function spendUnavailable(error) {
  $("budgets").replaceChildren(problem(error));
  setText("total-in-flight", "–", { count: "" });
  setText("results-kept", "–", { bytes: "" });
}
