// Refusals today (UTC), from today's spend report: the table by team and reason, and the
// Refusals today card. Refusals are counted per period, so today's come from today's report.

import { $, h, problem, setText, unavailable } from "./elements.js";
import { fmt } from "./format.js";

function drawTable(today) {
  const box = $("refusals");
  const rows = (today.teams || []).filter((row) => row.refusals);
  if (!today.totals || !today.totals.refusals) {
    box.replaceChildren(unavailable("this gateway does not count refusals yet."));
    return;
  }
  const reasons = [...new Set(rows.flatMap((row) => Object.keys(row.refusals)))].sort();
  if (!reasons.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No refusals today."));
    return;
  }
  const head = h("tr", {}, h("th", { text: "team" }),
    ...reasons.map((r) => h("th", { class: "num", text: r.replaceAll("_", " ") })),
    h("th", { class: "num", text: "total" }));
  const body = rows.map((row) => {
    const total = reasons.reduce((a, r) => a + (row.refusals[r] || 0), 0);
    return h("tr", { "data-team": row.team, "data-total": total },
      h("td", { text: row.team }),
      ...reasons.map((r) => h("td", { class: "num", "data-reason": r,
        text: fmt(row.refusals[r] || 0) })),
      h("td", { class: "num strong", text: fmt(total) }));
  });
  box.replaceChildren(h("table", { class: "table" }, h("thead", {}, head),
    h("tbody", {}, ...body)));
}

function drawTotal(today) {
  const refusals = (today.totals || {}).refusals;
  if (refusals) {
    const sum = Object.values(refusals).reduce((a, b) => a + b, 0);
    setText("total-refusals", fmt(sum), { count: sum });
  } else {
    setText("total-refusals", "unavailable", { count: "" });
  }
}

export function drawRefusals(today) {
  drawTable(today);
  drawTotal(today);
}

export function refusalsUnavailable(error) {
  $("refusals").replaceChildren(problem(error));
  setText("total-refusals", "–", { count: "" });
}
