// Tasks: the latest ones in flight and ended, as cards with their result thumbnails,
// optionally for one team.

import { $, h, problem, timeEl } from "./elements.js";
import { fmt } from "./format.js";

const RECENT_TASKS = 24;

// The tasks to load: the latest, of the team chosen above the panel (or of all teams).
export function tasksPath() {
  const team = $("tasks-team").value;
  return `admin/tasks?limit=${RECENT_TASKS}${team ? `&team=${encodeURIComponent(team)}` : ""}`;
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

// Cards are reused while a task is unchanged, so a refresh does not reload its thumbnail.
let taskCards = new Map();

// A tile in place of an image: the task's state, or a result image that no longer loads.
function tile(task, text, title) {
  return h("div", { class: `thumb placeholder status-${task.status}`, title, text,
    "aria-hidden": title ? null : "true" });
}

// The result's thumbnail, linked to the full image. Rivya's result URLs expire (when is not
// documented), so an image that fails to load becomes a tile the same size as the image
// would have been: the card's text stays where it is.
function thumbnail(task, url) {
  const img = h("img", { class: "thumb", src: url, loading: "lazy", decoding: "async",
    width: 64, height: 64, referrerpolicy: "no-referrer",
    alt: `Result of task ${task.id} (${task.model})` });
  const link = h("a", { href: url, target: "_blank", rel: "noopener noreferrer",
    class: "thumb-link" }, img);
  img.addEventListener("error", () => link.replaceWith(tile(task, "no image",
    "The result no longer loads: past its team's retention, or never copied and gone at Rivya.")), { once: true });
  return link;
}

function taskCard(task) {
  const key = `${task.id}|${task.status}|${task.updated_at}`;
  const known = taskCards.get(key);
  if (known) return [key, known];
  const url = task.result ? safeUrl(task.result.primary_url) : null;
  const thumb = url ? thumbnail(task, url) : tile(task, task.status === "failed" ? "✕" : "…");
  const credits = task.status === "succeeded" || task.status === "failed"
    ? `${fmt(task.final_credits)} cr` : `${fmt(task.reserved_credits)} cr reserved`;
  const card = h("article", { class: "task", "data-task": task.id, "data-status": task.status,
    "data-team": task.team || "" },
    thumb,
    h("div", { class: "task-meta small" },
      h("div", {}, h("span", { class: `badge status-${task.status}`, text: task.status }),
        " ", h("span", { class: "strong", text: task.team || "" })),
      h("div", { class: "muted", text: task.model }),
      h("div", {}, credits),
      h("div", { class: "muted" }, timeEl(task.created_at)),
      task.error ? h("div", { class: "error", title: task.error.message || "",
        text: task.error.code }) : null,
      h("div", { class: "muted mono", title: task.client_request_id || "", text: task.id })));
  return [key, card];
}

export function drawTasks(list) {
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

export function tasksUnavailable(error) {
  $("tasks-in-flight").replaceChildren(problem(error));
  $("tasks-recent").replaceChildren();
  taskCards = new Map();
}
