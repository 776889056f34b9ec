// The refresh loop: the page loads again every 10 s (a hidden tab waits until it is shown),
// one load at a time, and stops once signed out.
//
// What a load does (panels.js) is handed over by the entry: the panels' actions call
// refresh(), so this module imports none of them.

import { token } from "./api.js";
import { $ } from "./elements.js";

const REFRESH_MS = 10000;

let loadPage = null; // handed over by the entry (refreshesWith)
let timer = null;
let running = null;
let again = false;

export function refreshesWith(load) {
  loadPage = load;
}

export function stopRefreshing() {
  if (timer !== null) clearTimeout(timer);
  timer = null;
}

function schedule() {
  stopRefreshing();
  timer = setTimeout(() => {
    if (document.hidden) schedule(); // a hidden tab waits; it refreshes when shown
    else refresh();
  }, REFRESH_MS);
}

// One load at a time; a refresh asked for meanwhile (say, after an admin action) runs once
// more when it ends, so what it draws is never older than the action.
export function refresh() {
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
  stopRefreshing();
  try {
    await loadPage();
  } catch (error) {
    $("refresh-state").textContent = `refresh failed: ${error} ·`;
  } finally {
    if (token()) schedule(); // signed out (a 401) means no more refreshes
  }
}

// A tab shown again refreshes at once if it was waiting (and not if signed out meanwhile).
export function refreshIfShown() {
  if (!document.hidden && token() && timer !== null) refresh();
}
