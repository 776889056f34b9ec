// Signing in and out: the token prompt, and what a refused token does (asks for it again).

import { forgetToken, keepToken, refusesToken } from "./api.js";
import { $ } from "./elements.js";
import { hideNewKey } from "./new-key.js";
import { refresh, stopRefreshing } from "./refresh.js";

export function showLogin(message) {
  stopRefreshing();
  hideNewKey();
  $("app").hidden = true;
  $("login").hidden = false;
  const error = $("login-error");
  error.textContent = message || "";
  error.hidden = !message;
  $("token").value = "";
  $("token").focus();
}

export function signOut(message) {
  forgetToken();
  showLogin(message);
}

// A 401 anywhere means the token is wrong (or was rotated): ask for it again.
export function handleAuth(error) {
  if (refusesToken(error)) {
    signOut(`The gateway refused the token (${error.code}): ${error.message}`);
    return true;
  }
  return false;
}

export function signIn(event) {
  event.preventDefault();
  const value = $("token").value.trim();
  $("token").value = "";
  if (!value) return;
  keepToken(value);
  $("login").hidden = true;
  $("app").hidden = false;
  refresh();
}
