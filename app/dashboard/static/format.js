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

export function timeOf(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return String(iso || "");
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}
