// Building the page's elements without innerHTML: every string from the API reaches the page
// through textContent or an attribute set with setAttribute. And what a panel shows in place
// of what it could not load.

import { ApiError } from "./api.js";
import { timeOf } from "./format.js";

export const $ = (id) => document.getElementById(id);

export function build(ns, tag, attrs, children) {
  const el = ns ? document.createElementNS(ns, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.toLowerCase().startsWith("on")) throw new Error("no inline handlers");
    if (name === "text") el.textContent = String(value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children || []) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const h = (tag, attrs, ...children) => build(null, tag, attrs, children);

export function setText(id, text, data) {
  const el = $(id);
  el.textContent = text;
  for (const [name, value] of Object.entries(data || {})) {
    el.setAttribute(`data-${name}`, value === null || value === undefined ? "" : String(value));
  }
  return el;
}

export function timeEl(iso) {
  return h("time", { datetime: iso, title: iso, text: timeOf(iso) });
}

// A part this gateway does not offer (yet): said as such, not as an error.
export const unavailable = (what) =>
  h("p", { class: "unavailable", "data-unavailable": "true" }, `Unavailable: ${what}`);

export function problem(error) {
  if (error instanceof ApiError && error.status === 404) {
    return unavailable("this gateway does not offer it yet.");
  }
  const text = error instanceof ApiError ? `${error.code}: ${error.message}` : String(error);
  return h("p", { class: "error", "data-error": "true" }, `Could not load: ${text}`);
}
