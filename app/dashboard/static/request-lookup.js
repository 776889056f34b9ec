// Look one thing up, by whatever a user hands ops: a request id (an error's requestId: who sent
// it, where, what was answered and why, its task), a task id (whichever team's), or a
// client_request_id (the tasks it names, across teams).

import { ApiError, getJson } from "./api.js";
import { $, h, problem } from "./elements.js";
import { timeOf } from "./format.js";
import { handleAuth } from "./session.js";

function facts(record) {
  const rows = [
    ["When", timeOf(record.at)],
    ["Team", record.team || "none identified (no key, or an unknown one)"],
    ["Key", record.key_id || "–"],
    ["User", record.subject || "– (a team key)"],
    ["Route", `${record.method} ${record.route || "(no route)"}`],
    ["Answer", `${record.status}${record.error_code ? ` ${record.error_code}` : ""}`],
    ["Task", record.task_id || "–"],
    ["Rivya's request id", record.upstream_request_id || "–"],
    ["Took", `${record.latency_ms} ms`],
  ];
  return h("dl", { class: "facts", "data-request": record.request_id },
    ...rows.flatMap(([term, value]) => [h("dt", { text: term }), h("dd", { text: value })]));
}

function taskFacts(task) {
  const rows = [
    ["Task", task.id],
    ["Team", task.team],
    ["Status", task.status + (task.error ? ` (${task.error.code})` : "")],
    ["Model", task.model],
    ["Credits", task.status === "succeeded" || task.status === "failed"
      ? `${task.final_credits} charged` : `${task.reserved_credits} reserved`],
    ["client_request_id", task.client_request_id || "–"],
    ["Created", timeOf(task.created_at)],
  ];
  return h("dl", { class: "facts", "data-task": task.id },
    ...rows.flatMap(([term, value]) => [h("dt", { text: term }), h("dd", { text: value })]));
}

async function found(id) {
  const path = encodeURIComponent(id);
  if (id.startsWith("req_")) return [facts(await getJson(`admin/requests/${path}`))];
  if (id.startsWith("task_")) return [taskFacts(await getJson(`admin/tasks/${path}`))];
  const tasks = (await getJson(`admin/tasks?client_request_id=${path}&limit=20`)).data || [];
  return tasks.length ? tasks.map(taskFacts)
    : [h("p", { class: "muted", text: `No task has client_request_id "${id}".` })];
}

export async function lookUpRequest(event) {
  event.preventDefault();
  const id = $("lookup-id").value.trim();
  if (!id) return;
  const out = $("lookup-result");
  try {
    out.replaceChildren(...await found(id));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      out.replaceChildren(h("p", { class: "muted", text: error.message }));
    } else if (!handleAuth(error)) {
      out.replaceChildren(problem(error));
    }
  }
}
