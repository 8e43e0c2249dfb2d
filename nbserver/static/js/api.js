// The REST client every page uses: base URL, XSRF header, JSON errors, contents/kernels/sessions/terminals calls.

export const baseUrl = document.body.dataset.baseUrl || "/";

/** Percent-encode each component of an API path, keeping the slashes. */
export function encodePath(path) {
  return path.split("/").map(encodeURIComponent).join("/");
}

/** A URL under the server's base URL: url("api/contents", "a/b.ipynb"). */
export function url(prefix, path = "") {
  const tail = path ? "/" + encodePath(path.replace(/^\/+/, "")) : "";
  return baseUrl + prefix.replace(/^\/+/, "") + tail;
}

function cookie(name) {
  const match = document.cookie.split("; ").find((part) => part.startsWith(name + "="));
  return match ? decodeURIComponent(match.slice(name.length + 1)) : null;
}

export class ApiError extends Error {
  /** ``data`` is the JSON error body ({message, reason, code, conflict_path...}) or null. */
  constructor(status, message, data = null) {
    super(message);
    this.status = status;
    this.data = data;
  }
}

/** fetch() with the XSRF header on every request and the session cookie. */
export async function request(method, target, body = undefined, extraHeaders = {}) {
  const headers = { ...extraHeaders };
  const xsrf = cookie("_xsrf");
  if (xsrf) headers["X-XSRFToken"] = xsrf;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return readResponse(await fetch(target, init));
}

/** A fetch() response's JSON (or text; null for 204), or an ApiError for an error status. */
export async function readResponse(response) {
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    let data = null;
    try {
      data = await response.json();
      if (data && data.message) message = data.message;
    } catch (_) { /* not JSON: keep the status line */ }
    throw new ApiError(response.status, message, data);
  }
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export const contents = {
  get: (path, params = {}) => {
    const query = new URLSearchParams(params).toString();
    return request("GET", url("api/contents", path) + (query ? "?" + query : ""));
  },
  list: (path) => contents.get(path, { content: 1 }),
  save: (path, model) => request("PUT", url("api/contents", path), model),
  newUntitled: (dir, options) => request("POST", url("api/contents", dir), options),
  copy: (fromPath, toDir) => request("POST", url("api/contents", toDir), { copy_from: fromPath }),
  rename: (path, newPath) => request("PATCH", url("api/contents", path), { path: newPath }),
  remove: (path) => request("DELETE", url("api/contents", path)),
  checkpoints: (path) => request("GET", url("api/contents", path) + "/checkpoints"),
  createCheckpoint: (path) => request("POST", url("api/contents", path) + "/checkpoints"),
  restoreCheckpoint: (path, id) =>
    request("POST", url("api/contents", path) + "/checkpoints/" + encodeURIComponent(id)),
};

/** Ids and the trash (/api/files, /api/trash): nbserver's own routes. */
export const trash = {
  add: (path) => request("POST", url("api/trash"), { path }),
  restore: (id, options = undefined) => request("POST", url("api/files", id) + "/restore", options),
  list: (cursor = null, pageSize = 50) => {
    const query = new URLSearchParams({ page_size: String(pageSize) });
    if (cursor) query.set("cursor", cursor);
    return request("GET", url("api/trash") + "?" + query);
  },
  deleteForever: (id, noTrash = false) =>
    request("DELETE", url("api/files", id) + "/permanent_delete" + (noTrash ? "?confirm=no_trash" : "")),
  lookup: (path) => request("GET", url("api/files/lookup") + "?path=" + encodeURIComponent(path)),
  empty: () => request("DELETE", url("api/trash")),
};

export const kernels = {
  list: () => request("GET", url("api/kernels")),
  start: (name) => request("POST", url("api/kernels"), name ? { name } : {}),
  get: (id) => request("GET", url("api/kernels", id)),
  interrupt: (id) => request("POST", url("api/kernels", id) + "/interrupt"),
  restart: (id) => request("POST", url("api/kernels", id) + "/restart"),
  shutdown: (id) => request("DELETE", url("api/kernels", id)),
  specs: () => request("GET", url("api/kernelspecs")),
  channelsUrl: (id, sessionId) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${url("api/kernels", id)}/channels?session_id=${encodeURIComponent(sessionId)}`;
  },
};

export const sessions = {
  list: () => request("GET", url("api/sessions")),
  create: (model) => request("POST", url("api/sessions"), model),
  rename: (id, path) => request("PATCH", url("api/sessions", id), { path, name: path.split("/").pop() }),
  remove: (id) => request("DELETE", url("api/sessions", id)),
};

export const terminals = {
  list: () => request("GET", url("api/terminals")),
  start: (cwd = "") => request("POST", url("api/terminals"), cwd ? { cwd } : {}),
  shutdown: (name) => request("DELETE", url("api/terminals", name)),
  pageUrl: (name) => url("terminals", name),
  socketUrl: (name) => {
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${location.host}${url("terminals/websocket", name)}`;
  },
};

/** The parent folder of an API path ("" for the root). */
export function dirname(path) {
  const index = path.lastIndexOf("/");
  return index < 0 ? "" : path.slice(0, index);
}

export function basename(path) {
  return path.slice(path.lastIndexOf("/") + 1);
}

export function joinPath(dir, name) {
  return dir ? `${dir}/${name}` : name;
}
