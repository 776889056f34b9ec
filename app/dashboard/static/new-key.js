// A newly issued key, shown once to be copied. The secret is in the DOM only while this box
// shows; the page keeps it nowhere else (no storage, no module state), so hiding it forgets it.

import { $ } from "./elements.js";

export function showNewKey(issued) {
  $("new-key-team").textContent = issued.team;
  $("new-key-id").textContent = issued.key_id;
  $("new-key-value").textContent = issued.key;
  $("new-key").hidden = false;
  $("new-key-copy").textContent = "Copy";
}

export function hideNewKey() {
  $("new-key-value").textContent = "";
  $("new-key-id").textContent = "";
  $("new-key").hidden = true;
}

export async function copyNewKey() {
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
