// The console's one way to call the API: same-origin fetch, so the HttpOnly session cookie goes along and no
// key is ever held by the page. Requests that change something carry the session's CSRF token, which the
// server handed over in the sign-in (or session) answer and which lives only in this module's memory.

let csrfToken = null;
let onSessionLost = () => {};

export function setCsrfToken(token) {
  csrfToken = token;
}

/** Called when /v1 answers 401: the session ended (signed out elsewhere, expired, key revoked). */
export function setSessionLostHandler(handler) {
  onSessionLost = handler;
}

/** A problem-details answer (or a network failure, status 0) as an Error the pages can read. */
export class ApiError extends Error {
  constructor(status, problem = {}) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = problem.code || (status === 0 ? "network_error" : "http_" + status);
    this.detail = problem.detail || "";
    this.errors = Array.isArray(problem.errors) ? problem.errors : [];
    this.problem = problem;
  }
}

/**
 * api("GET", "/v1/stores") → parsed JSON (null for 204). Non-2xx throws ApiError.
 * options.headers adds headers (Idempotency-Key); options.quiet401 keeps a 401 from ending the session view
 * (the sign-in form itself expects 401s).
 */
export async function api(method, path, body, options = {}) {
  const headers = { Accept: "application/json", ...(options.headers || {}) };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, { detail: String(error && error.message ? error.message : error) });
  }
  if (response.status === 204) return null;
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json().catch(() => null) : null;
  if (!response.ok) {
    const error = new ApiError(response.status, data || {});
    if (response.status === 401 && !options.quiet401) onSessionLost(error);
    throw error;
  }
  return data;
}

/** Every item of a cursor-paginated list: {items|features, next_cursor}. */
export async function all(path, key = "items", limit = 500) {
  const out = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    out.push(...(page[key] || []));
    cursor = page.next_cursor || null;
  } while (cursor);
  return out;
}

/** A GET answered in another format (CSV with Accept: text/csv) as text, for a download; errors as api() has them. */
export async function apiText(path, accept = "text/csv") {
  let response;
  try {
    response = await fetch(path, { headers: { Accept: accept }, credentials: "same-origin", cache: "no-store" });
  } catch (error) {
    throw new ApiError(0, { detail: String(error && error.message ? error.message : error) });
  }
  if (!response.ok) {
    const type = response.headers.get("content-type") || "";
    const error = new ApiError(response.status, type.includes("json") ? await response.json().catch(() => ({})) : {});
    if (response.status === 401) onSessionLost(error);
    throw error;
  }
  return response.text();
}
