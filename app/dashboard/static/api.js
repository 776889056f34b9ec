// The admin API, and the admin token it is called with.
//
// The token lives in sessionStorage only (this tab, this session): it is sent as an
// Authorization header and never put in a URL, a cookie or localStorage (nothing that
// outlives the tab).

const TOKEN_KEY = "rivya-gateway.admin-token";

export const token = () => sessionStorage.getItem(TOKEN_KEY);
export const keepToken = (value) => sessionStorage.setItem(TOKEN_KEY, value);
export const forgetToken = () => sessionStorage.removeItem(TOKEN_KEY);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// A 401: the token is wrong (or was rotated).
export const refusesToken = (error) => error instanceof ApiError && error.status === 401;

// Paths are relative ("admin/..."), so the page also works under a path prefix.
export async function api(path, { method = "GET", body } = {}) {
  const current = token();
  if (!current) throw new ApiError(401, "api_key_missing", "Enter the admin token.");
  const headers = { Authorization: `Bearer ${current}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    redirect: "error",
  });
  if (!response.ok) {
    let code = `http_${response.status}`;
    let message = response.statusText || "The request failed.";
    try {
      const envelope = await response.json();
      if (envelope && envelope.error) {
        code = String(envelope.error.code || code);
        message = String(envelope.error.message || message);
      }
    } catch {
      // not the envelope: keep the status line
    }
    throw new ApiError(response.status, code, message);
  }
  return response;
}

export const getJson = async (path) => (await api(path)).json();
