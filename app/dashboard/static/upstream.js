// Rivya's account and the drift of the books, from GET /admin/upstream: the balance, circuit
// and drift cards, and the panel with the reconciliation and its suspect tasks.

import { $, h, problem, setText, timeEl } from "./elements.js";
import { fmt, timeOf } from "./format.js";

function drawCards(up) {
  const rivya = up.rivya || {};
  const balance = setText("rivya-balance",
    rivya.current_credits === null || rivya.current_credits === undefined
      ? "unknown" : fmt(rivya.current_credits),
    { credits: rivya.current_credits });
  balance.classList.toggle("warn", Boolean(up.balance_low));
  setText("rivya-balance-note", up.balance_low
    ? `LOW: under ${fmt(up.low_balance_credits)} credits`
    : up.low_balance_credits === null ? "no low-balance alert set"
      : `alert under ${fmt(up.low_balance_credits)}`);
  const circuit = setText("rivya-circuit", (rivya.circuit || "unknown").replace("_", " "),
    { state: rivya.circuit || "" });
  circuit.className = `big circuit-${rivya.circuit || "unknown"}`;
  const drift = setText("drift",
    up.drift_credits === null || up.drift_credits === undefined ? "no baseline"
      : fmt(up.drift_credits), { credits: up.drift_credits });
  // Credits in flight move the drift without anything being wrong: warn on the rest only.
  drift.classList.toggle("warn", Boolean(up.unexplained_credits));
  setText("drift-note", up.unexplained_credits
    ? `${fmt(up.unexplained_credits)} unexplained` : "Rivya vs. the gateway's books",
  { credits: up.unexplained_credits ?? "" });
}

function drawPanel(up) {
  const rivya = up.rivya || {};
  const facts = [
    ["Rivya balance", rivya.current_credits === null ? "unknown" : fmt(rivya.current_credits)],
    ["Low-balance alert", up.low_balance_credits === null ? "not set"
      : `under ${fmt(up.low_balance_credits)}${up.balance_low ? " (LOW now)" : ""}`],
    ["Circuit", rivya.circuit || "unknown"],
  ];
  if (rivya.error) facts.push(["Last error", rivya.error]);
  if (up.baseline) {
    const credits = up.baseline.rivya_credits ?? up.baseline.credits;
    facts.push(["Baseline", `Rivya had ${fmt(credits)} credits at ${timeOf(up.baseline.set_at)}`]);
  } else {
    facts.push(["Baseline", "not set: drift needs one"]);
  }
  if (up.since_baseline) {
    const since = up.since_baseline;
    facts.push(["Since the baseline", `Rivya charged ${fmt(since.rivya_spent)} · gateway ` +
      `settled ${fmt(since.gateway_spent)} + reserved ${fmt(since.gateway_reserved)}`]);
  }
  facts.push(["Drift", up.drift_credits === null ? "–" : `${fmt(up.drift_credits)} credits`
    + (up.unexplained_credits ? ` (${fmt(up.unexplained_credits)} unexplained)` : "")]);
  if (up.baseline && up.baseline.uncertain_credits) {
    facts.push(["In flight at the baseline", `${fmt(up.baseline.uncertain_credits)} credits`]);
  }
  if (up.explanation) facts.push(["In short", up.explanation]);
  const list = h("dl", { class: "facts" }, ...facts.flatMap(([term, value]) =>
    [h("dt", { text: term }), h("dd", { text: value })]));
  const suspects = up.suspect_tasks || [];
  const table = suspects.length
    ? h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ...["team", "task", "event", "credits", "at"].map(
        (name) => h("th", { class: name === "credits" ? "num" : null, text: name })))),
      h("tbody", {}, ...suspects.map((t) => h("tr", { "data-team": t.team, "data-ref": t.ref },
        h("td", { text: t.team }), h("td", { class: "mono", text: t.ref }),
        h("td", { text: t.event }), h("td", { class: "num", text: fmt(t.credits) }),
        h("td", {}, timeEl(t.at))))))
    : h("p", { class: "muted small" }, "No suspect tasks.");
  $("upstream").replaceChildren(list, h("h3", {}, "Suspect tasks"), table);
}

export function drawUpstream(up) {
  drawCards(up);
  drawPanel(up);
}

export function upstreamUnavailable(error) {
  for (const id of ["rivya-balance", "rivya-circuit", "drift"]) {
    const el = setText(id, "unavailable", { credits: "", state: "" });
    el.classList.remove("warn");
  }
  setText("rivya-balance-note", "");
  $("upstream").replaceChildren(problem(error));
}
