// A request, by its id: who sent it (team, key, user), where, what was answered and why, and
// its task. What ops are asked about when a user reports an error's requestId.

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

export async function lookUpRequest(event) {
  event.preventDefault();
  const id = $("lookup-id").value.trim();
  if (!id) return;
  const out = $("lookup-result");
  try {
    out.replaceChildren(facts(await getJson(`admin/requests/${encodeURIComponent(id)}`)));
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) {
      out.replaceChildren(h("p", { class: "muted", text: error.message }));
    } else if (!handleAuth(error)) {
      out.replaceChildren(problem(error));
    }
  }
}
