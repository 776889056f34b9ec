// The admin actions panel: the teams (and the team drop-downs), each team's key ids, and the
// actions, each behind a confirmation: set a team's budget, issue a key, revoke a key.

import { api } from "./api.js";
import { $, h, problem, timeEl } from "./elements.js";
import { fmt, per } from "./format.js";
import { showNewKey } from "./new-key.js";
import { refresh } from "./refresh.js";
import { handleAuth } from "./session.js";

let teams = [];
let teamsDrawn = null;

export function setTeams(list) {
  teams = list;
}

export const teamIds = () => teams.map((t) => t.id);

// Rebuilt only when the teams change, so a refresh does not close an open drop-down.
export function drawTeamSelects() {
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

// Another team chosen: its budget replaces whatever was typed.
export function chooseTeam() {
  delete $("budget-input").dataset.edited;
  showChosenTeam(true);
}

export function budgetEdited() {
  $("budget-input").dataset.edited = "true";
}

// A team's webhooks: where each calls, and whether the gateway stopped it (and why).
function webhookRows(result) {
  if (!result || result.status !== "fulfilled") return null;
  const hooks = result.value.data || [];
  if (!hooks.length) return null;
  return h("ul", { class: "key-list webhook-list" }, ...hooks.map((hook) => h("li", {
    class: hook.enabled ? "webhook" : "webhook revoked",
    "data-webhook-id": hook.id,
    "data-enabled": hook.enabled ? "true" : "false",
  },
    h("span", { class: "small", text: `webhook ${hook.name}` }),
    h("code", { class: "small", text: hook.url }),
    h("span", { class: "small muted", text: hook.enabled
      ? "delivering" : `stopped: ${hook.disabled_reason}` }))));
}

// One result per team, in the teams' order (Promise.allSettled of their key lists, and of
// their webhook lists).
export function drawKeys(results, hookResults = []) {
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
      keyDates(key),
      key.revoked_at
        ? h("span", { class: "small muted" }, "revoked ", timeEl(key.revoked_at))
        : h("button", { type: "button", class: "small-button danger", "data-revoke": key.key_id,
          "data-team": team.id, text: "Revoke" })));
    return h("div", { class: "key-group", "data-team": team.id }, header,
      rows.length ? h("ul", { class: "key-list" }, ...rows)
        : h("p", { class: "muted small" }, "No keys."),
      webhookRows(hookResults[i]));
  });
  $("keys").replaceChildren(...(groups.length ? groups
    : [h("p", { class: "muted small" }, "No teams yet.")]));
  showChosenTeam(false);
}

// When a key was last used, when it stops working, and what it may still spend: what ops look
// for first.
function keyDates(key) {
  const used = key.last_used_at
    ? h("span", { "data-last-used": key.last_used_at }, "used ", timeEl(key.last_used_at))
    : h("span", { "data-last-used": "" }, "not used yet");
  const expires = key.expires_at
    ? h("span", { "data-expires": key.expires_at }, " · expires ", timeEl(key.expires_at))
    : null;
  return h("span", { class: "small muted key-dates" }, used, expires, keyBudget(key));
}

function keyBudget(key) {
  const period = key.budget_period === "total" ? "in all"
    : key.budget_period === "day" ? "today" : `this ${key.budget_period}`;
  if (key.budget_credits === null) {
    const used = key.spent_credits + key.reserved_credits;
    return h("span", { "data-key-budget": "" }, ` · ${used} credits ${period}`);
  }
  return h("span", { "data-key-budget": key.budget_credits },
    ` · ${key.remaining_credits} of ${key.budget_credits} credits left ${period}`);
}

export function keysUnavailable(error) {
  $("keys").replaceChildren(problem(error));
}

function say(text, isError) {
  const status = $("action-status");
  status.textContent = text;
  status.classList.toggle("error", Boolean(isError));
}

export async function setBudget(event) {
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

export async function issueKey(event) {
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

// One listener on the key list: a click on any of its Revoke buttons.
export async function revokeKey(event) {
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

// In an incident what ops hold is the leaked key itself: revoked by it (or by its id or
// prefix), sent in a body, never in a URL; the field is cleared, and only the id is said back.
export async function revokeLeakedKey(event) {
  event.preventDefault();
  const field = $("leak-key");
  const reference = field.value.trim();
  if (!reference) return;
  if (!window.confirm("Revoke the key you pasted? Requests with it are refused at once.")) return;
  try {
    const revoked = await (await api("admin/keys/revoke",
      { method: "POST", body: { key: reference } })).json();
    field.value = "";
    say(`Key ${revoked.key_id} of team ${revoked.team} revoked.`);
    await refresh();
  } catch (error) {
    if (!handleAuth(error)) say(`Not revoked: ${error.message}`, true);
  }
}
