// The ops dashboard's entry: wires the page's controls to the modules that handle them, then
// shows the token prompt or, with a token already in this tab, the dashboard. It reads the
// admin API with the admin token and draws it: no library, no build step, no inline script
// (the page's CSP forbids it). The modules, each with one job:
//
//   api.js            the admin API, and the admin token in session storage
//   format.js         numbers, budget periods and times as a person reads them
//   elements.js       building elements without innerHTML; a panel's "could not load"
//   session.js        signing in and out
//   refresh.js        the refresh loop: every 10 s, one load at a time
//   panels.js         one load: every endpoint at once, each answer to its panel
//   budgets.js        spend against budget, the Spent and In flight cards
//   refusals.js       refusals today, and their card
//   daily-spend.js    spend over 30 days (chart) and its CSV
//   tasks.js          tasks in flight and recent, with thumbnails
//   upstream.js       Rivya's balance, the circuit, the drift and its suspect tasks
//   admin-actions.js  the teams and their keys: set a budget, issue or revoke a key
//   new-key.js        a newly issued key, shown once
//
// Rules all of them keep:
// - the admin token lives in sessionStorage only (this tab, this session), is sent as an
//   Authorization header and never put in a URL, a cookie or localStorage;
// - a newly issued key lives in one variable and the DOM until hidden; it is never stored;
// - every string from the API reaches the page through textContent or an attribute set with
//   setAttribute, never through innerHTML;
// - each panel draws on its own: a panel whose endpoint is missing (404) or failing says so,
//   and the others still draw.

import {
  budgetEdited, chooseTeam, issueKey, revokeKey, revokeLeakedKey, setBudget,
} from "./admin-actions.js";
import { token } from "./api.js";
import { downloadCsv } from "./daily-spend.js";
import { $ } from "./elements.js";
import { copyNewKey, hideNewKey } from "./new-key.js";
import { lookUpRequest } from "./request-lookup.js";
import { loadPanels } from "./panels.js";
import { refresh, refreshesWith, refreshIfShown } from "./refresh.js";
import { showLogin, signIn, signOut } from "./session.js";

refreshesWith(loadPanels);

$("login-form").addEventListener("submit", signIn);
$("sign-out").addEventListener("click", () => signOut());
$("refresh").addEventListener("click", () => refresh());
$("budget-form").addEventListener("submit", setBudget);
$("budget-input").addEventListener("input", budgetEdited);
$("key-form").addEventListener("submit", issueKey);
$("keys").addEventListener("click", revokeKey);
$("leak-form").addEventListener("submit", revokeLeakedKey);
$("lookup-form").addEventListener("submit", lookUpRequest);
$("action-team").addEventListener("change", chooseTeam);
$("tasks-team").addEventListener("change", () => refresh());
$("daily-csv").addEventListener("click", downloadCsv);
$("new-key-copy").addEventListener("click", copyNewKey);
$("new-key-hide").addEventListener("click", hideNewKey);
document.addEventListener("visibilitychange", refreshIfShown);

if (token()) {
  $("app").hidden = false;
  refresh();
} else {
  showLogin();
}
