// The browser side: a token from our own backend, then the gateway directly (cross-origin).
// The team key never comes here; the token is kept in a variable only (not localStorage).
"use strict";

const $ = (id) => document.getElementById(id);
const config = fetch("/config").then((r) => r.json()); // {gateway_url}

class GatewayError extends Error {}

async function getToken() {
  // Tokens last 15 minutes: a real page may keep one in memory until near its expires_at.
  const answer = await fetch("/token", { method: "POST" });
  if (!answer.ok) throw new Error(`our backend could not get a token (${answer.status})`);
  return (await answer.json()).token;
}

async function callGateway(path, token, options = {}) {
  const { gateway_url } = await config;
  let answer;
  try {
    answer = await fetch(gateway_url + path, {
      ...options,
      headers: { ...options.headers, Authorization: `Bearer ${token}` },
    });
  } catch (err) {
    // A CORS refusal (this origin is not in the team's cors_origins) is a TypeError with no
    // details; so is a gateway that cannot be reached at all.
    if (err instanceof TypeError) throw new GatewayError("blocked: this origin may not call the gateway");
    throw err;
  }
  const body = await answer.json().catch(() => ({}));
  if (answer.status !== 200 && answer.status !== 202) {
    const error = body.error || {};
    throw new GatewayError(`${error.code || answer.status}: ${error.message || answer.statusText}`);
  }
  return { status: answer.status, task: body };
}

async function generate(prompt) {
  const token = await getToken();
  let { status, task } = await callGateway("/v1/images?wait=30", token, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ prompt, aspect_ratio: "1:1" }),
  });
  while (status === 202) { // not finished yet: wait for it (each call waits up to 30 s)
    ({ status, task } = await callGateway(`/v1/images/${task.id}?wait=30`, token));
  }
  if (task.status !== "succeeded") throw new GatewayError(`${task.error.code}: ${task.error.message}`);
  return task.result.primary_url;
}

$("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  $("generate").disabled = true;
  $("error").hidden = true;
  $("result").hidden = true;
  $("status").textContent = "Working…";
  try {
    $("result").src = await generate($("prompt").value);
    $("result").alt = $("prompt").value;
    $("result").hidden = false;
    $("status").textContent = "";
  } catch (err) {
    $("error").textContent = err.message;
    $("error").hidden = false;
    $("status").textContent = "";
  } finally {
    $("generate").disabled = false;
  }
});
