// Numbers, budget periods and times as a person reads them.

const numberFormat = new Intl.NumberFormat();
export const fmt = (n) => (n === null || n === undefined ? "–" : numberFormat.format(n));
export const plural = (n, one, many) => `${fmt(n)} ${n === 1 ? one : many}`;

// "per month · 2026-11", "in all": a budget period as a person says it.
const PER = { day: "per day", week: "per week", month: "per month", total: "in all" };
export const per = (period) => PER[period] || `per ${period}`;
export function periodLabel(period, id) {
  const stamp = String(id || "").replace(/^[a-z]+:/, "");
  return period === "total" ? "all time" : `${per(period)} · ${stamp}`;
}

// Times as the rest of the page has them: in UTC, with the date (a card's task may be days old).
export function timeOf(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso || "");
  return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

// The time of day in UTC, to the second: when the page last refreshed.
export const clockOf = (date) => `${date.toISOString().slice(11, 19)} UTC`;
