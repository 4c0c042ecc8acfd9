// The page's only way to the service: the public JSON API, same origin, session cookie.

export class SignedOut extends Error {}

export class Unavailable extends Error {
  constructor(reason, retryAfter) {
    super(reason);
    this.reason = reason; // "service" (503) or "network"
    this.retryAfter = retryAfter;
  }
}

// Told about every answer: so the page can show a banner while the service is away and
// take it down as soon as anything answers again.
const listeners = { up: () => {}, down: () => {} };

export function onHealth(up, down) {
  listeners.up = up;
  listeners.down = down;
}

/**
 * fetch() one API path. Resolves {status, data, headers} for every answer the caller handles
 * (2xx, 304, 4xx); throws SignedOut on 401 and Unavailable on 503 or a dropped connection.
 */
export async function api(path, { method = "GET", body, etag } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (etag) headers["If-None-Match"] = etag;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      // The page does its own revalidation with If-None-Match; the 304 must reach it.
      cache: "no-store",
    });
  } catch {
    const error = new Unavailable("network", null);
    listeners.down(error);
    throw error;
  }
  if (response.status === 503) {
    const error = new Unavailable("service", seconds(response.headers.get("Retry-After")));
    listeners.down(error);
    throw error;
  }
  listeners.up();
  if (response.status === 401 && path !== "/auth/login") throw new SignedOut();
  let data = null;
  if ((response.headers.get("Content-Type") || "").includes("json")) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { status: response.status, data, headers: response.headers };
}

/** Retry-After as whole seconds (it may also be an HTTP date). */
export function seconds(retryAfter) {
  if (!retryAfter) return null;
  if (/^\d+$/.test(retryAfter.trim())) return Number(retryAfter);
  const when = Date.parse(retryAfter);
  return Number.isNaN(when) ? null : Math.max(0, Math.round((when - Date.now()) / 1000));
}

/**
 * What an answer's {"detail"} says, as words: a string as it is, a validation error's list
 * (422) as its messages; `fallback` when it says nothing.
 */
export function detailText(data, fallback) {
  const detail = data && data.detail;
  if (typeof detail === "string" && detail) return detail;
  if (Array.isArray(detail)) {
    // pydantic prefixes a validator's own words with "Value error, ": the words are the API's.
    const words = detail.map((error) => String((error && error.msg) || "").replace(/^Value error, /, "")).filter(Boolean);
    if (words.length > 0) return words.join(" ");
  }
  return fallback;
}
