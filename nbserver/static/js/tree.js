// The dashboard: list a folder through /api/contents and act on its files; show running kernels and terminals.

import { ApiError, basename, contents, dirname, joinPath, kernels, sessions, terminals, trash, url } from "./api.js";
import { dialog, dropdown, el, exactTime, humanSize, timeAgo, toast } from "./ui.js";
import { refreshTrash, wireTrashView } from "./trashview.js";
import { wireExternal } from "./external.js";

const CHUNK_SIZE = 1024 * 1024; // bytes per chunk of an upload through the contents API
const SINGLE_UPLOAD_LIMIT = 2 * CHUNK_SIZE; // larger files go in chunks
const icons = document.body.dataset.baseUrl + "static/icons/";

const state = {
  path: document.body.dataset.path || "",
  items: [],
  selected: new Set(),
  sort: JSON.parse(localStorage.getItem("nbserver.sort") || '{"key":"name","ascending":true}'),
  runningPaths: new Set(),
  loaded: false,
};

const rows = document.getElementById("file-rows");

// -- where each kind of file opens ------------------------------------------------------------

const EDITABLE_TYPES = ["application/json", "application/javascript", "application/xml",
  "application/x-sh", "application/x-yaml", "application/yaml", "application/toml"];

function isEditable(item) {
  return !item.mimetype || item.mimetype.startsWith("text/") || EDITABLE_TYPES.includes(item.mimetype);
}

function openUrl(item) {
  if (item.type === "directory") return url("tree", item.path);
  if (item.type === "notebook") return url("notebooks", item.path);
  return url(isEditable(item) ? "edit" : "view", item.path);
}

function iconFor(item) {
  if (item.type === "directory") return "folder.svg";
  if (item.type === "notebook") return "notebook.svg";
  const mimetype = item.mimetype || "";
  if (mimetype.startsWith("image/")) return "image.svg";
  if (/\.(py|js|ts|sh|r|jl|c|cpp|h|rs|go|java|json|ya?ml|toml|css|html?)$/i.test(item.name)) return "code.svg";
  return "file.svg";
}

// -- listing ----------------------------------------------------------------------------------

function compare(a, b) {
  if ((a.type === "directory") !== (b.type === "directory")) return a.type === "directory" ? -1 : 1;
  const { key, ascending } = state.sort;
  let result;
  if (key === "size") result = (a.size ?? -1) - (b.size ?? -1);
  else if (key === "last_modified") result = new Date(a.last_modified) - new Date(b.last_modified);
  else result = 0;
  if (result === 0) result = a.name.localeCompare(b.name, undefined, { numeric: true, sensitivity: "base" });
  return ascending ? result : -result;
}

function renderRows() {
  if (!state.loaded) return;
  const items = [...state.items].sort(compare);
  rows.replaceChildren();
  if (state.path) {
    rows.append(el("tr", { class: "parent-row" },
      el("td"),
      el("td", { colspan: 3 }, el("a", { class: "name", href: url("tree", dirname(state.path)) },
        el("img", { class: "icon", src: icons + "folder.svg", alt: "" }), el("span", { text: ".." })))));
  }
  if (!items.length) {
    rows.append(el("tr", { class: "placeholder" }, el("td", { colspan: 4, text: "This folder is empty." })));
  }
  for (const item of items) {
    const checked = state.selected.has(item.path);
    const running = state.runningPaths.has(item.path);
    rows.append(el("tr", { class: checked ? "selected" : "", dataset: { path: item.path, type: item.type } },
      el("td", { class: "col-check" },
        el("input", { type: "checkbox", checked, "aria-label": `Select ${item.name}`,
          onchange: (event) => toggleSelected(item.path, event.target.checked) })),
      el("td", { class: "col-name" },
        el("a", { class: "name", href: openUrl(item) },
          el("img", { class: "icon", src: icons + iconFor(item), alt: "" }),
          el("span", { text: item.name })),
        running ? el("span", { class: "badge running", text: "Running" }) : null),
      el("td", { class: "col-modified", title: exactTime(item.last_modified), text: timeAgo(item.last_modified) }),
      el("td", { class: "col-size", text: item.type === "directory" ? "" : humanSize(item.size) })));
  }
  for (const button of document.querySelectorAll("th .sort")) {
    const active = button.dataset.sort === state.sort.key;
    button.classList.toggle("active", active);
    button.dataset.direction = active ? (state.sort.ascending ? "asc" : "desc") : "";
    button.closest("th").setAttribute("aria-sort", active ? (state.sort.ascending ? "ascending" : "descending") : "none");
  }
  updateSelectionBar();
}

async function refresh() {
  try {
    const model = await contents.list(state.path);
    state.items = model.content;
    state.loaded = true;
    const present = new Set(state.items.map((item) => item.path));
    for (const path of [...state.selected]) if (!present.has(path)) state.selected.delete(path);
    renderRows();
  } catch (error) {
    rows.replaceChildren(el("tr", { class: "placeholder" }, el("td", { colspan: 4, text: `Could not list this folder: ${error.message}` })));
  }
}

// -- selection and actions ----------------------------------------------------------------------

function toggleSelected(path, on) {
  if (on) state.selected.add(path);
  else state.selected.delete(path);
  renderRows();
}

function selectedItems() {
  return state.items.filter((item) => state.selected.has(item.path));
}

function updateSelectionBar() {
  const count = state.selected.size;
  document.getElementById("selection-bar").hidden = count === 0;
  document.getElementById("selection-count").textContent = count === 1 ? "1 selected" : `${count} selected`;
  document.querySelector('[data-action="rename"]').disabled = count !== 1;
  document.querySelector('[data-action="download"]').disabled = selectedItems().some((item) => item.type === "directory");
  const all = document.getElementById("select-all");
  all.checked = count > 0 && count === state.items.length;
  all.indeterminate = count > 0 && count < state.items.length;
}

async function sessionsOrEmpty() {
  try {
    return await sessions.list();
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return [];
    throw error;
  }
}

/** Move a file and, when a notebook with a session moves, tell the session its new path. */
async function movePath(oldPath, newPath) {
  await contents.rename(oldPath, newPath);
  for (const session of await sessionsOrEmpty()) {
    if (session.path === oldPath) await sessions.rename(session.id, newPath).catch(() => {});
  }
}

const actions = {
  async rename() {
    const [item] = selectedItems();
    const name = await dialog({ title: `Rename ${item.type === "directory" ? "folder" : "file"}`, input: item.name, ok: "Rename" });
    if (!name || name === item.name) return;
    await movePath(item.path, joinPath(dirname(item.path), name));
    toast(`Renamed to ${name}`);
  },
  async move() {
    const target = await dialog({ title: "Move to folder", message: "Path of the destination folder, from the top (empty for the top folder):", input: state.path, ok: "Move" });
    if (target === null) return;
    const folder = target.replace(/^\/+|\/+$/g, "");
    for (const item of selectedItems()) await movePath(item.path, joinPath(folder, item.name));
    toast(`Moved to /${folder}`);
  },
  async duplicate() {
    for (const item of selectedItems()) await contents.copy(item.path, state.path);
  },
  async download() {
    for (const item of selectedItems()) {
      const link = el("a", { href: url("files", item.path) + "?download=1", download: item.name });
      document.body.append(link);
      link.click();
      link.remove();
    }
  },
  async delete() {
    const items = selectedItems();
    const what = items.length === 1 ? `“${items[0].name}”` : `${items.length} items`;
    if (document.body.dataset.deleteToTrash !== "true") {
      const ok = await dialog({ title: "Delete permanently", message: `Delete ${what} permanently? This cannot be undone.`,
                                ok: "Delete permanently", danger: true });
      if (!ok) return;
      for (const item of items) await contents.remove(item.path);
      toast(`Deleted ${what}`);
      return;
    }
    const ok = await dialog({ title: "Move to trash", ok: "Move to trash",
                              message: `Move ${what} to the trash? ${items.length === 1 ? "It" : "They"} can be restored from there until ${items.length === 1 ? "it expires" : "they expire"}.` });
    if (!ok) return;
    const ids = [];
    for (const item of items) {
      try {
        ids.push((await trash.add(item.path)).id);
      } catch (error) {
        const why = error instanceof ApiError ? NO_TRASH_REASONS[error.data?.code] : undefined;
        if (!why) throw error;
        await offerPermanentDelete(item, why);
      }
    }
    if (ids.length) toast(`Moved ${ids.length === items.length ? what : `${ids.length} items`} to the trash`, "info", 8,
                          { label: "Undo", run: () => undoTrash(ids) });
  },
};

/** Why an item cannot go to the trash, by the server's error code (design section 3.6). */
const NO_TRASH_REASONS = {
  no_trash_here: "is on a drive where the server cannot keep a trash",
  too_large_for_trash: "is larger than the whole trash may hold",
};

/** An item that cannot go to the trash is deleted for good only if the person says so. */
async function offerPermanentDelete(item, why) {
  const ok = await dialog({ title: "Delete permanently", ok: "Delete permanently", danger: true,
                            message: `“${item.name}” ${why}, so it cannot be moved to the trash. Delete it permanently instead? This cannot be undone.` });
  if (!ok) return;
  await trash.deleteForever((await trash.lookup(item.path)).id, true);
  toast(`Deleted “${item.name}” permanently`);
}

async function undoTrash(ids) {
  try {
    for (const id of ids) await trash.restore(id);
    toast("Restored");
  } catch (error) {
    toast(error.message, "error", 6);
  }
  await refresh();
}

async function runAction(name) {
  try {
    await actions[name]();
    if (name !== "download") {
      state.selected.clear();
      renderRows();  // the checkboxes show the cleared selection now, not after the refresh below
    }
  } catch (error) {
    toast(error.message, "error", 6);
  }
  await refreshRunning();
  await refresh();
}

// -- creating -----------------------------------------------------------------------------------

async function exists(path) {
  try {
    await contents.get(path, { content: 0 });
    return true;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return false;
    throw error;
  }
}

async function createNotebook(kernelName) {
  try {
    const model = await contents.newUntitled(state.path, { type: "notebook" });
    const query = kernelName ? "?kernel_name=" + encodeURIComponent(kernelName) : "";
    location.href = url("notebooks", model.path) + query;
  } catch (error) {
    toast(error.message, "error", 6);
  }
}

async function createNamed(kind) {
  const isFolder = kind === "directory";
  const name = await dialog({ title: isFolder ? "New folder" : "New text file", input: isFolder ? "" : "untitled.txt", ok: "Create" });
  if (!name) return;
  const path = joinPath(state.path, name.trim());
  try {
    if (await exists(path)) throw new Error(`“${name}” already exists here.`);
    const model = isFolder ? { type: "directory" } : { type: "file", format: "text", content: "" };
    await contents.save(path, model);
    if (isFolder) {
      toast(`Created folder ${name}`);
      await refresh();
    } else {
      location.href = url("edit", path);
    }
  } catch (error) {
    toast(error.message, "error", 6);
  }
}

async function loadKernelChoices() {
  const box = document.getElementById("kernel-choices");
  let specs = null;
  try {
    specs = await kernels.specs();
  } catch (_) { /* no kernelspecs route: one plain choice */ }
  box.replaceChildren();
  const entries = specs ? Object.values(specs.kernelspecs) : [];
  if (!entries.length) {
    box.append(el("button", { type: "button", class: "menu-item", dataset: { kernel: "" }, onclick: () => createNotebook("") },
      el("img", { class: "kernel-logo", src: icons + "kernel.svg", alt: "" }), "Notebook"));
    return;
  }
  entries.sort((a, b) => (a.name === specs.default ? -1 : b.name === specs.default ? 1 : a.spec.display_name.localeCompare(b.spec.display_name)));
  for (const entry of entries) {
    const resources = entry.resources || {};
    const logo = resources["logo-64x64"] || resources["logo-32x32"] || resources["logo-svg"];
    box.append(el("button", { type: "button", class: "menu-item", dataset: { kernel: entry.name }, onclick: () => createNotebook(entry.name) },
      el("img", { class: "kernel-logo", src: logo || icons + "kernel.svg", alt: "" }),
      entry.spec.display_name || entry.name));
  }
}

// -- uploading ----------------------------------------------------------------------------------

function readBase64(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function uploadRow(file) {
  const bar = el("progress", { max: 100, value: 0 });
  const status = el("span", { class: "upload-status", text: "waiting" });
  const row = el("div", { class: "upload" }, el("span", { class: "upload-name", text: file.name }), bar, status);
  document.getElementById("uploads").append(row);
  return {
    progress(fraction) {
      bar.value = Math.round(fraction * 100);
      status.textContent = `${bar.value}%`;
    },
    done(message, kind) {
      row.classList.add(kind);
      status.textContent = message;
      setTimeout(() => row.remove(), kind === "error" ? 10000 : 2500);
    },
  };
}

async function uploadFile(file) {
  const path = joinPath(state.path, file.name);
  const row = uploadRow(file);
  try {
    if (await exists(path)) {
      const ok = await dialog({ title: "Replace file?", message: `“${file.name}” already exists here. Replace it?`, ok: "Replace", danger: true });
      if (!ok) {
        row.done("skipped", "skipped");
        return;
      }
    }
    if (file.name.endsWith(".ipynb") && file.size <= SINGLE_UPLOAD_LIMIT) {
      const text = await file.text();
      let notebook = null;
      try {
        notebook = JSON.parse(text);
      } catch (_) { /* not JSON: store the bytes as they are */ }
      if (notebook) {
        await contents.save(path, { type: "notebook", format: "json", content: notebook });
        row.progress(1);
        row.done("uploaded", "ok");
        return;
      }
    }
    if (file.size <= SINGLE_UPLOAD_LIMIT) {
      await contents.save(path, { type: "file", format: "base64", content: await readBase64(file) });
      row.progress(1);
    } else {
      const count = Math.ceil(file.size / CHUNK_SIZE);
      for (let index = 0; index < count; index += 1) {
        const chunk = index === count - 1 ? -1 : index + 1;
        const content = await readBase64(file.slice(index * CHUNK_SIZE, (index + 1) * CHUNK_SIZE));
        await contents.save(path, { type: "file", format: "base64", chunk, content });
        row.progress((index + 1) / count);
      }
    }
    row.done("uploaded", "ok");
  } catch (error) {
    row.done(error.message, "error");
  }
}

async function uploadFiles(files) {
  await Promise.all([...files].map(uploadFile));
  await refresh();
}

// -- running kernels and sessions ---------------------------------------------------------------

async function refreshRunning() {
  const sessionList = document.getElementById("running-sessions");
  const kernelList = document.getElementById("running-kernels");
  const terminalList = document.getElementById("running-terminals");
  let kernelModels = [];
  let sessionModels = [];
  let terminalModels = [];
  try {
    [kernelModels, sessionModels, terminalModels] = await Promise.all([kernels.list(), sessionsOrEmpty(),
      terminalList ? terminals.list().catch(() => []) : []]);
  } catch (_) { /* no kernels route yet: nothing runs */ }
  state.runningPaths = new Set(sessionModels.map((session) => session.path));
  const shutdownButton = (label, action) => el("button", { type: "button", class: "button small danger", text: "Shut down",
    "aria-label": `Shut down ${label}`,
    onclick: async () => {
      try {
        await action();
      } catch (error) {
        toast(error.message, "error");
      }
      await refreshRunning();
      renderRows();
    } });
  sessionList.replaceChildren(...sessionModels.map((session) => el("li", {},
    el("a", { class: "name", href: url("notebooks", session.path) },
      el("img", { class: "icon", src: icons + "notebook.svg", alt: "" }), el("span", { text: session.path })),
    el("span", { class: `state ${session.kernel?.execution_state || ""}`, text: session.kernel?.execution_state || "" }),
    shutdownButton(session.path, () => sessions.remove(session.id)))));
  if (!sessionModels.length) sessionList.append(el("li", { class: "empty", text: "No open notebooks." }));
  kernelList.replaceChildren(...kernelModels.map((kernel) => el("li", {},
    el("span", { class: "name" }, el("img", { class: "icon", src: icons + "kernel.svg", alt: "" }),
      el("span", { text: kernel.name }), el("code", { class: "kernel-id", text: kernel.id.slice(0, 8) })),
    el("span", { class: `state ${kernel.execution_state || ""}`, text: kernel.execution_state || "" }),
    shutdownButton(kernel.id, () => kernels.shutdown(kernel.id)))));
  if (!kernelModels.length) kernelList.append(el("li", { class: "empty", text: "No running kernels." }));
  if (terminalList) {
    terminalList.replaceChildren(...terminalModels.map((terminal) => el("li", {},
      el("a", { class: "name", href: terminals.pageUrl(terminal.name) },
        el("img", { class: "icon", src: icons + "terminal.svg", alt: "" }), el("span", { text: `Terminal ${terminal.name}` })),
      el("span", { class: "state", title: exactTime(terminal.last_activity), text: timeAgo(terminal.last_activity) }),
      shutdownButton(`terminal ${terminal.name}`, () => terminals.shutdown(terminal.name)))));
    if (!terminalModels.length) terminalList.append(el("li", { class: "empty", text: "No running terminals." }));
  }
  const count = kernelModels.length + terminalModels.length;
  document.getElementById("running-count").textContent = count ? String(count) : "";
}

// -- terminals --------------------------------------------------------------------------------

async function createTerminal() {
  try {
    const model = await terminals.start(state.path);
    location.href = terminals.pageUrl(model.name);
  } catch (error) {
    toast(error.message, "error", 6);
  }
}

// -- wiring -------------------------------------------------------------------------------------

function showTab(name) {
  for (const tab of document.querySelectorAll(".tab")) {
    const active = tab.dataset.tab === name;
    tab.classList.toggle("active", active);
    tab.setAttribute("aria-selected", String(active));
  }
  for (const panel of document.querySelectorAll(".panel")) panel.hidden = panel.dataset.panel !== name;
  if (name === "running") refreshRunning();
  if (name === "trash") refreshTrash();
  if (name === "files") refresh();
  // The Trash view has its own address (/tree?view=trash), so it can be linked and reloaded.
  const address = new URL(location.href);
  if (name === "trash") address.searchParams.set("view", "trash");
  else address.searchParams.delete("view");
  history.replaceState(null, "", address);
}

function wire() {
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => showTab(tab.dataset.tab));
  for (const button of document.querySelectorAll("th .sort")) {
    button.addEventListener("click", () => {
      const key = button.dataset.sort;
      state.sort = { key, ascending: state.sort.key === key ? !state.sort.ascending : key === "name" };
      localStorage.setItem("nbserver.sort", JSON.stringify(state.sort));
      renderRows();
    });
  }
  document.getElementById("select-all").addEventListener("change", (event) => {
    state.selected = new Set(event.target.checked ? state.items.map((item) => item.path) : []);
    renderRows();
  });
  for (const button of document.querySelectorAll("[data-action]")) {
    button.addEventListener("click", () => runAction(button.dataset.action));
  }
  dropdown(document.getElementById("new-button"), document.getElementById("new-menu"));
  for (const item of document.querySelectorAll("[data-new]")) item.addEventListener("click", () => createNamed(item.dataset.new));
  document.getElementById("new-terminal")?.addEventListener("click", createTerminal);
  document.getElementById("upload-input").addEventListener("change", (event) => {
    uploadFiles(event.target.files);
    event.target.value = "";
  });
  document.getElementById("refresh-button").addEventListener("click", () => { refresh(); refreshRunning(); });
  const zone = document.getElementById("drop-zone");
  zone.addEventListener("dragover", (event) => {
    if (![...event.dataTransfer.types].includes("Files")) return;
    event.preventDefault();
    zone.classList.add("dragging");
  });
  zone.addEventListener("dragleave", (event) => { if (!zone.contains(event.relatedTarget)) zone.classList.remove("dragging"); });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
    if (event.dataTransfer.files.length) uploadFiles(event.dataTransfer.files);
  });
  window.addEventListener("focus", () => { refresh(); refreshRunning(); });
  wireExternal(() => state.path, refresh);
  setInterval(() => { if (!document.hidden) refreshRunning().then(renderRows); }, 15000);
}

wire();
if (document.getElementById("trash-panel")) wireTrashView(refresh);
loadKernelChoices();
if (new URLSearchParams(location.search).get("view") === "trash" && document.getElementById("trash-panel")) showTab("trash");
else refresh();
refreshRunning().then(renderRows);
document.title = `${basename(state.path) || "Home"} · nbserver`;
