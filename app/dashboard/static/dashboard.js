// The ops dashboard: reads the admin API with the admin token and draws it. No library, no
// build step, no inline script (the page's CSP forbids it).
//
// Rules this file keeps:
// - the admin token lives in sessionStorage only (this tab, this session), is sent as an
//   Authorization header and never put in a URL, a cookie or localStorage;
// - a newly issued key lives in one variable and the DOM until hidden; it is never stored;
// - every string from the API reaches the page through textContent or an attribute set with
//   setAttribute, never through innerHTML;
// - each panel draws on its own: a panel whose endpoint is missing (404) or failing says so,
//   and the others still draw.
"use strict";

(() => {
  const TOKEN_KEY = "rivya-gateway.admin-token";
  const REFRESH_MS = 10000;
  const RECENT_TASKS = 24;
  const SERIES = 8; // colours in dashboard.css: .series-0 ... .series-7

  const $ = (id) => document.getElementById(id);
  // The chart's <svg> is parsed from the HTML, so it already carries the SVG namespace.
  const SVG_NS = $("daily-chart").namespaceURI;

  // ---- building DOM without innerHTML ------------------------------------------------------

  function build(ns, tag, attrs, children) {
    const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name.toLowerCase().startsWith("on")) throw new Error("no inline handlers");
      if (name === "text") el.textContent = String(value);
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children || []) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const h = (tag, attrs, ...children) => build(null, tag, attrs, children);
  const s = (tag, attrs, ...children) => build(SVG_NS, tag, attrs, children);

  const numberFormat = new Intl.NumberFormat();
  const fmt = (n) => (n === null || n === undefined ? "–" : numberFormat.format(n));
  const plural = (n, one, many) => `${fmt(n)} ${n === 1 ? one : many}`;

  // "per month · 2026-11", "in all": a budget period as a person says it.
  const PER = { day: "per day", week: "per week", month: "per month", total: "in all" };
  const per = (period) => PER[period] || `per ${period}`;
  function periodLabel(period, id) {
    const stamp = String(id || "").replace(/^[a-z]+:/, "");
    return period === "total" ? "all time" : `${per(period)} · ${stamp}`;
  }

  function timeOf(iso) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso || "");
    const sameDay = date.toDateString() === new Date().toDateString();
    return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
  }

  function timeEl(iso) {
    return h("time", { datetime: iso, title: iso, text: timeOf(iso) });
  }

  // Only http(s) URLs become image sources or links; anything else is shown as nothing.
  function safeUrl(value) {
    try {
      const url = new URL(String(value), window.location.href);
      return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
    } catch {
      return null;
    }
  }

  // ---- the admin API -----------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const token = () => sessionStorage.getItem(TOKEN_KEY);

  // Paths are relative ("admin/..."), so the page also works under a path prefix.
  async function api(path, { method = "GET", body } = {}) {
    const current = token();
    if (!current) throw new ApiError(401, "api_key_missing", "Enter the admin token.");
    const headers = { Authorization: `Bearer ${current}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
    });
    if (!response.ok) {
      let code = `http_${response.status}`;
      let message = response.statusText || "The request failed.";
      try {
        const envelope = await response.json();
        if (envelope && envelope.error) {
          code = String(envelope.error.code || code);
          message = String(envelope.error.message || message);
        }
      } catch {
        // not the envelope: keep the status line
      }
      throw new ApiError(response.status, code, message);
    }
    return response;
  }

  const getJson = async (path) => (await api(path)).json();

  // ---- panels: "unavailable" and errors ----------------------------------------------------

  function problem(error) {
    if (error instanceof ApiError && error.status === 404) {
      return h("p", { class: "unavailable", "data-unavailable": "true" },
        "Unavailable: this gateway does not offer it yet.");
    }
    const text = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
    return h("p", { class: "error", "data-error": "true" }, `Could not load: ${text}`);
  }

  function setText(id, text, data) {
    const el = $(id);
    el.textContent = text;
    for (const [name, value] of Object.entries(data || {})) {
      el.setAttribute(`data-${name}`, value === null || value === undefined ? "" : String(value));
    }
    return el;
  }

  // ---- budgets (bars) ----------------------------------------------------------------------

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

  function drawTotals(spend) {
    const totals = spend.totals || {};
    setText("total-spent", fmt(totals.spent_credits), { credits: totals.spent_credits });
    setText("total-reserved", `${fmt(totals.reserved_credits)} reserved · each team's period`);
    setText("total-in-flight", fmt(totals.in_flight), { count: totals.in_flight });
  }

  // Refusals are counted per period: today's (UTC) come from today's spend report.
  function drawRefusalTotal(today) {
    const refusals = (today.totals || {}).refusals;
    if (refusals) {
      const sum = Object.values(refusals).reduce((a, b) => a + b, 0);
      setText("total-refusals", fmt(sum), { count: sum });
    } else {
      setText("total-refusals", "unavailable", { count: "" });
    }
  }

  // ---- refusals ----------------------------------------------------------------------------

  function drawRefusals(spend) {
    const box = $("refusals");
    const rows = (spend.teams || []).filter((row) => row.refusals);
    if (!spend.totals || !spend.totals.refusals) {
      box.replaceChildren(h("p", { class: "unavailable", "data-unavailable": "true" },
        "Unavailable: this gateway does not count refusals yet."));
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

  // ---- spend over 30 days (SVG) ------------------------------------------------------------

  const chart = { width: 640, height: 230, left: 44, right: 8, top: 10, bottom: 26 };

  function niceMax(value) {
    if (value <= 0) return 10;
    const power = 10 ** Math.floor(Math.log10(value));
    const step = [1, 2, 2.5, 5, 10].find((m) => m * power >= value);
    return step * power;
  }

  function drawDaily(daily, teamOrder) {
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

  function dailyUnavailable(error) {
    $("daily-chart").replaceChildren();
    $("daily-legend").replaceChildren();
    $("daily-note").replaceChildren(problem(error));
    $("daily-csv").disabled = true;
  }

  // The CSV needs the token, which is a header: fetch it, then hand it over as a Blob URL.
  async function downloadCsv() {
    try {
      const response = await api("admin/spend/daily?days=30&format=csv");
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

  // ---- tasks -------------------------------------------------------------------------------

  // Cards are reused while a task is unchanged, so a refresh does not reload its thumbnail.
  let taskCards = new Map();

  function taskCard(task) {
    const key = `${task.id}|${task.status}|${task.updated_at}`;
    const known = taskCards.get(key);
    if (known) return [key, known];
    const url = task.result ? safeUrl(task.result.primary_url) : null;
    const thumb = url
      ? h("a", { href: url, target: "_blank", rel: "noopener noreferrer", class: "thumb-link" },
        h("img", { class: "thumb", src: url, loading: "lazy", decoding: "async", width: 64,
          height: 64, referrerpolicy: "no-referrer",
          alt: `Result of task ${task.id} (${task.model})` }))
      : h("div", { class: `thumb placeholder status-${task.status}`, "aria-hidden": "true",
        text: task.status === "failed" ? "✕" : "…" });
    const credits = task.status === "succeeded" || task.status === "failed"
      ? `${fmt(task.final_credits)} cr` : `${fmt(task.reserved_credits)} cr reserved`;
    const card = h("article", { class: "task", "data-task": task.id, "data-status": task.status,
      "data-team": task.team || "" },
      thumb,
      h("div", { class: "task-meta small" },
        h("div", {}, h("span", { class: `badge status-${task.status}`, text: task.status }),
          " ", h("span", { class: "strong", text: task.team || "" })),
        h("div", { class: "muted", text: task.model }),
        h("div", {}, credits, " · ", timeEl(task.created_at)),
        task.error ? h("div", { class: "error", title: task.error.message || "",
          text: task.error.code }) : null,
        h("div", { class: "muted mono", title: task.client_request_id || "", text: task.id })));
    return [key, card];
  }

  function drawTasks(list) {
    const tasks = list.data || [];
    const next = new Map();
    const card = (task) => {
      const [key, node] = taskCard(task);
      next.set(key, node);
      return node;
    };
    const running = tasks.filter((t) => t.status === "queued" || t.status === "processing");
    const ended = tasks.filter((t) => t.status === "succeeded" || t.status === "failed");
    $("tasks-in-flight").replaceChildren(...(running.length ? running.map(card)
      : [h("p", { class: "muted small" }, "Nothing in flight among the latest tasks.")]));
    $("tasks-recent").replaceChildren(...(ended.length ? ended.map(card)
      : [h("p", { class: "muted small" }, "No ended tasks yet.")]));
    taskCards = next;
  }

  function tasksUnavailable(error) {
    $("tasks-in-flight").replaceChildren(problem(error));
    $("tasks-recent").replaceChildren();
    taskCards = new Map();
  }

  // ---- upstream: balance, circuit, drift ---------------------------------------------------

  function drawUpstream(up) {
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

  function upstreamUnavailable(error) {
    for (const id of ["rivya-balance", "rivya-circuit", "drift"]) {
      const el = setText(id, "unavailable", { credits: "", state: "" });
      el.classList.remove("warn");
    }
    setText("rivya-balance-note", "");
    $("upstream").replaceChildren(problem(error));
  }

  // ---- teams, keys and the admin actions ---------------------------------------------------

  let teams = [];
  let teamsDrawn = null;

  // Rebuilt only when the teams change, so a refresh does not close an open drop-down.
  function drawTeamSelects() {
    const drawn = JSON.stringify(teams.map((team) => [team.id, team.name]));
    if (drawn === teamsDrawn) {
      showChosenTeam(false);
      return;
    }
    teamsDrawn = drawn;
    for (const id of ["action-team", "tasks-team"]) {
      const select = $(id);
      const chosen = select.value;
      const options = teams.map((team) => h("option", { value: team.id,
        text: team.name && team.name !== team.id ? `${team.id} (${team.name})` : team.id }));
      if (id === "tasks-team") options.unshift(h("option", { value: "", text: "all teams" }));
      select.replaceChildren(...options);
      if ([...select.options].some((o) => o.value === chosen)) select.value = chosen;
    }
    showChosenTeam(false);
  }

  function chosenTeam() {
    return teams.find((team) => team.id === $("action-team").value) || null;
  }

  // Fills the budget field from the team, unless someone is typing in it.
  function showChosenTeam(force) {
    const team = chosenTeam();
    const input = $("budget-input");
    $("budget-period").textContent = team ? `(credits ${per(team.budget_period)})` : "";
    if (team && (force || (document.activeElement !== input && !input.dataset.edited))) {
      input.value = team.budget_credits === null ? "" : String(team.budget_credits);
    }
    for (const id of ["budget-submit", "key-submit"]) $(id).disabled = !team;
    for (const group of document.querySelectorAll(".key-group")) {
      group.classList.toggle("chosen", Boolean(team) && group.dataset.team === (team && team.id));
    }
  }

  function drawKeys(results) {
    const groups = teams.map((team, i) => {
      const result = results[i];
      const header = h("h4", {}, team.id);
      if (result.status === "rejected") {
        return h("div", { class: "key-group", "data-team": team.id }, header,
          problem(result.reason));
      }
      const keys = result.value.data || [];
      const rows = keys.map((key) => h("li", {
        class: key.revoked_at ? "key revoked" : "key",
        "data-key-id": key.key_id,
        "data-revoked": key.revoked_at ? "true" : "false",
      },
        h("code", { text: key.key_id }),
        h("span", { class: "small", text: key.name || "" }),
        key.revoked_at
          ? h("span", { class: "small muted" }, "revoked ", timeEl(key.revoked_at))
          : h("button", { type: "button", class: "small-button danger", "data-revoke": key.key_id,
            "data-team": team.id, text: "Revoke" })));
      return h("div", { class: "key-group", "data-team": team.id }, header,
        rows.length ? h("ul", { class: "key-list" }, ...rows)
          : h("p", { class: "muted small" }, "No keys."));
    });
    $("keys").replaceChildren(...(groups.length ? groups
      : [h("p", { class: "muted small" }, "No teams yet.")]));
    showChosenTeam(false);
  }

  function say(text, isError) {
    const status = $("action-status");
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  async function setBudget(event) {
    event.preventDefault();
    const team = chosenTeam();
    if (!team) return;
    const raw = $("budget-input").value.trim();
    const budget = raw === "" ? null : Number(raw);
    if (budget !== null && !(Number.isInteger(budget) && budget >= 0)) {
      say("A budget is a whole number of credits, or empty for no budget.", true);
      return;
    }
    const question = budget === null
      ? `Remove the budget of team "${team.id}"? It could then spend without limit.`
      : `Set the budget of team "${team.id}" to ${fmt(budget)} credits ${per(team.budget_period)}?`;
    if (!window.confirm(question)) return;
    try {
      const updated = await (await api(`admin/teams/${encodeURIComponent(team.id)}`,
        { method: "PATCH", body: { budget_credits: budget } })).json();
      delete $("budget-input").dataset.edited;
      say(`Budget of ${updated.id}: ${updated.budget_credits === null ? "none"
        : `${fmt(updated.budget_credits)} credits ${per(updated.budget_period)}`}.`);
      await refresh();
    } catch (error) {
      if (!handleAuth(error)) say(`Not changed: ${error.message}`, true);
    }
  }

  async function issueKey(event) {
    event.preventDefault();
    const team = chosenTeam();
    if (!team) return;
    const name = $("key-name").value.trim();
    if (!window.confirm(`Issue a new key for team "${team.id}"${name ? ` named "${name}"` : ""}?`)) {
      return;
    }
    try {
      const issued = await (await api(`admin/teams/${encodeURIComponent(team.id)}/keys`,
        { method: "POST", body: { name: name || null } })).json();
      $("key-name").value = "";
      showNewKey(issued);
      say(`Key ${issued.key_id} issued for ${issued.team}.`);
      await refresh();
    } catch (error) {
      if (!handleAuth(error)) say(`No key issued: ${error.message}`, true);
    }
  }

  // The secret is in the DOM only while this box shows; nothing else keeps it.
  function showNewKey(issued) {
    $("new-key-team").textContent = issued.team;
    $("new-key-id").textContent = issued.key_id;
    $("new-key-value").textContent = issued.key;
    $("new-key").hidden = false;
    $("new-key-copy").textContent = "Copy";
  }

  function hideNewKey() {
    $("new-key-value").textContent = "";
    $("new-key-id").textContent = "";
    $("new-key").hidden = true;
  }

  async function copyNewKey() {
    const value = $("new-key-value").textContent;
    try {
      await navigator.clipboard.writeText(value);
      $("new-key-copy").textContent = "Copied";
    } catch {
      // No clipboard (e.g. plain http on another host): select it for Ctrl+C instead.
      const range = document.createRange();
      range.selectNodeContents($("new-key-value"));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $("new-key-copy").textContent = "Selected: press Ctrl+C";
    }
  }

  async function revokeKey(event) {
    const button = event.target.closest("button[data-revoke]");
    if (!button) return;
    const keyId = button.dataset.revoke;
    if (!window.confirm(`Revoke key ${keyId} of team "${button.dataset.team}"? ` +
      "Requests with it are refused at once.")) return;
    button.disabled = true;
    try {
      await api(`admin/keys/${encodeURIComponent(keyId)}`, { method: "DELETE" });
      say(`Key ${keyId} revoked.`);
      await refresh();
    } catch (error) {
      button.disabled = false;
      if (!handleAuth(error)) say(`Not revoked: ${error.message}`, true);
    }
  }

  // ---- sign in / out -----------------------------------------------------------------------

  function showLogin(message) {
    stopTimer();
    hideNewKey();
    $("app").hidden = true;
    $("login").hidden = false;
    const error = $("login-error");
    error.textContent = message || "";
    error.hidden = !message;
    $("token").value = "";
    $("token").focus();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    showLogin(message);
  }

  // A 401 anywhere means the token is wrong (or was rotated): ask for it again.
  function handleAuth(error) {
    if (error instanceof ApiError && error.status === 401) {
      signOut(`The gateway refused the token (${error.code}): ${error.message}`);
      return true;
    }
    return false;
  }

  function signIn(event) {
    event.preventDefault();
    const value = $("token").value.trim();
    $("token").value = "";
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("login").hidden = true;
    $("app").hidden = false;
    refresh();
  }

  // ---- the refresh loop --------------------------------------------------------------------

  let timer = null;
  let running = null;
  let again = false;

  function stopTimer() {
    if (timer !== null) clearTimeout(timer);
    timer = null;
  }

  function schedule() {
    stopTimer();
    timer = setTimeout(() => {
      if (document.hidden) schedule(); // a hidden tab waits; it refreshes when shown
      else refresh();
    }, REFRESH_MS);
  }

  // One load at a time; a refresh asked for meanwhile (say, after an admin action) runs once
  // more when it ends, so what it draws is never older than the action.
  function refresh() {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      do {
        again = false;
        await load();
      } while (again && token());
    })().finally(() => { running = null; });
    return running;
  }

  async function load() {
    if (!token()) {
      showLogin();
      return;
    }
    stopTimer();
    try {
      await loadPanels();
    } catch (error) {
      $("refresh-state").textContent = `refresh failed: ${error} ·`;
    } finally {
      if (token()) schedule(); // signed out (a 401) means no more refreshes
    }
  }

  async function loadPanels() {
    $("refresh-state").textContent = "refreshing…";
    const team = $("tasks-team").value;
    const taskQuery = `admin/tasks?limit=${RECENT_TASKS}${team ? `&team=${encodeURIComponent(team)}` : ""}`;
    const todayUtc = new Date().toISOString().slice(0, 10);
    const [teamsResult, spend, today, daily, tasks, upstream] = await Promise.allSettled([
      getJson("admin/teams"),
      getJson("admin/spend?period=current"),
      getJson(`admin/spend?period=${todayUtc}`),
      getJson("admin/spend/daily?days=30"),
      getJson(taskQuery),
      getJson("admin/upstream"),
    ]);
    const results = [teamsResult, spend, today, daily, tasks, upstream];
    const denied = results.find((r) => r.status === "rejected" && r.reason instanceof ApiError
      && r.reason.status === 401);
    if (denied) {
      handleAuth(denied.reason);
      return;
    }
    if (!token()) return; // signed out meanwhile

    let keyResults = [];
    if (teamsResult.status === "fulfilled") {
      teams = teamsResult.value.data || [];
      keyResults = await Promise.allSettled(teams.map(
        (t) => getJson(`admin/teams/${encodeURIComponent(t.id)}/keys`)));
      const keyDenied = keyResults.find((r) => r.status === "rejected"
        && r.reason instanceof ApiError && r.reason.status === 401);
      if (keyDenied) {
        handleAuth(keyDenied.reason);
        return;
      }
      drawTeamSelects();
      drawKeys(keyResults);
    } else {
      $("keys").replaceChildren(problem(teamsResult.reason));
    }

    const order = teams.map((t) => t.id);
    const draw = (result, ok, failed) => {
      try {
        if (result.status === "fulfilled") ok(result.value);
        else failed(result.reason);
      } catch (error) {
        failed(error); // an answer of an unexpected shape spoils its panel only
      }
    };
    draw(spend, (value) => { drawBudgets(value); drawTotals(value); },
      (error) => {
        $("budgets").replaceChildren(problem(error));
        for (const id of ["total-spent", "total-in-flight"]) {
          setText(id, "–", { credits: "", count: "" });
        }
      });
    draw(today, (value) => { drawRefusals(value); drawRefusalTotal(value); },
      (error) => {
        $("refusals").replaceChildren(problem(error));
        setText("total-refusals", "–", { count: "" });
      });
    draw(daily, (value) => drawDaily(value, order), dailyUnavailable);
    draw(tasks, drawTasks, tasksUnavailable);
    draw(upstream, drawUpstream, upstreamUnavailable);

    const failed = [...results, ...keyResults].filter((r) => r.status === "rejected").length;
    const now = new Date();
    const updated = $("updated-at");
    updated.textContent = now.toLocaleTimeString();
    updated.setAttribute("datetime", now.toISOString());
    updated.dataset.updated = now.toISOString();
    $("refresh-state").textContent = failed ? `${failed} part(s) unavailable ·` : "";
  }

  // ---- wiring ------------------------------------------------------------------------------

  $("login-form").addEventListener("submit", signIn);
  $("sign-out").addEventListener("click", () => signOut());
  $("refresh").addEventListener("click", () => refresh());
  $("budget-form").addEventListener("submit", setBudget);
  $("budget-input").addEventListener("input", (e) => { e.target.dataset.edited = "true"; });
  $("key-form").addEventListener("submit", issueKey);
  $("keys").addEventListener("click", revokeKey);
  $("action-team").addEventListener("change", () => {
    delete $("budget-input").dataset.edited;
    showChosenTeam(true);
  });
  $("tasks-team").addEventListener("change", () => refresh());
  $("daily-csv").addEventListener("click", downloadCsv);
  $("new-key-copy").addEventListener("click", copyNewKey);
  $("new-key-hide").addEventListener("click", hideNewKey);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && token() && timer !== null) refresh();
  });

  if (token()) {
    $("app").hidden = false;
    refresh();
  } else {
    showLogin();
  }
})();
