// One load of the whole page: every endpoint at once, each answer handed to its panel. Each
// panel draws on its own: a panel whose endpoint is missing (404) or failing says so, and the
// others still draw. A 401 from any of them signs out instead.

import { getJson, refusesToken, token } from "./api.js";
import {
  drawKeys, drawTeamSelects, keysUnavailable, setTeams, teamIds,
} from "./admin-actions.js";
import {
  drawSpend, drawSpentToday, spendUnavailable, spentTodayUnavailable,
} from "./budgets.js";
import { dailyUnavailable, drawDaily } from "./daily-spend.js";
import { $ } from "./elements.js";
import { clockOf } from "./format.js";
import { drawRefusals, refusalsUnavailable } from "./refusals.js";
import { handleAuth, showLogin } from "./session.js";
import { drawTasks, tasksPath, tasksUnavailable } from "./tasks.js";
import { drawUpstream, upstreamUnavailable } from "./upstream.js";

// Signs out if any of the results is a refused token; says whether it did.
function signedOutBy(results) {
  const denied = results.find((r) => r.status === "rejected" && refusesToken(r.reason));
  return denied !== undefined && handleAuth(denied.reason);
}

// A result drawn by its panel, or the panel's "could not load" for a failure: an answer of
// an unexpected shape spoils its panel only.
function draw(result, ok, failed) {
  try {
    if (result.status === "fulfilled") ok(result.value);
    else failed(result.reason);
  } catch (error) {
    failed(error);
  }
}

// Today's report (UTC) feeds two parts: the refusals and the Spent card.
function drawToday(today) {
  drawRefusals(today);
  drawSpentToday(today);
}

function todayUnavailable(error) {
  refusalsUnavailable(error);
  spentTodayUnavailable(error);
}

export async function loadPanels() {
  if (!token()) {
    showLogin();
    return;
  }
  $("refresh-state").textContent = "refreshing…";
  const todayUtc = new Date().toISOString().slice(0, 10);
  const results = await Promise.allSettled([
    getJson("admin/teams"),
    getJson("admin/spend?period=current"),
    getJson(`admin/spend?period=${todayUtc}`),
    getJson("admin/spend/daily?days=30"),
    getJson(tasksPath()),
    getJson("admin/upstream"),
  ]);
  const [teams, spend, today, daily, tasks, upstream] = results;
  if (signedOutBy(results)) return;
  if (!token()) return; // signed out meanwhile

  let keyResults = [];
  if (teams.status === "fulfilled") {
    const list = teams.value.data || [];
    setTeams(list);
    const each = (what) => Promise.allSettled(list.map(
      (t) => getJson(`admin/teams/${encodeURIComponent(t.id)}/${what}`)));
    const [keyLists, hookLists] = await Promise.all([each("keys"), each("webhooks")]);
    keyResults = [...keyLists, ...hookLists];
    if (signedOutBy(keyResults)) return;
    drawTeamSelects();
    drawKeys(keyLists, hookLists);
  } else {
    keysUnavailable(teams.reason);
  }

  draw(spend, drawSpend, spendUnavailable);
  draw(today, drawToday, todayUnavailable);
  // Each team keeps its colour: the teams' order, the last known if they failed to load.
  draw(daily, (value) => drawDaily(value, teamIds()), dailyUnavailable);
  draw(tasks, drawTasks, tasksUnavailable);
  draw(upstream, drawUpstream, upstreamUnavailable);

  const failed = [...results, ...keyResults].filter((r) => r.status === "rejected").length;
  const now = new Date();
  const updated = $("updated-at");
  updated.textContent = clockOf(now);
  updated.setAttribute("datetime", now.toISOString());
  updated.dataset.updated = now.toISOString();
  $("refresh-state").textContent = failed ? `${failed} part(s) unavailable ·` : "";
}
