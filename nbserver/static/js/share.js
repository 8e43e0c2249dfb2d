// The dashboard's public links and stars (/api/files): a Share dialog (link on/off, copy, new link),
// a star on each file row, and the Starred tab. Kept apart from tree.js: it only reads the rows tree.js draws.

import { ApiError, request, url } from "./api.js";
import { el, toast } from "./ui.js";

const files = {
  lookup: (path) => request("GET", url("api/files/lookup") + "?path=" + encodeURIComponent(path)),
  setPublic: (id, on) => request("PATCH", url("api/files", id), { world_readable: on }),
  rotate: (id) => request("POST", url("api/files", id) + "/share/rotate"),
  star: (id, on) => request(on ? "POST" : "DELETE", url("api/files", id) + "/star"),
  starred: () => request("GET", url("api/files") + "?starred=1&page_size=1000"),
};

const rows = document.getElementById("file-rows");
let starredPaths = new Set();

/** A link to open from anywhere: share_url is relative to this server. */
function absolute(shareUrl) {
  return new URL(shareUrl, location.origin).href;
}

// -- the Share dialog -----------------------------------------------------------------------------

function shareDialog() {
  let box = document.getElementById("share-dialog");
  if (box) return box;
  box = el("dialog", { id: "share-dialog", class: "dialog share-dialog", "aria-labelledby": "share-title" },
    el("h2", { id: "share-title" }),
    el("label", { class: "share-toggle" }, el("input", { type: "checkbox", id: "share-public" }),
      " Anyone with the link can view (read only)"),
    el("div", { class: "share-link-row", id: "share-link-row", hidden: true },
      el("input", { type: "text", id: "share-link", readonly: true, "aria-label": "Public link" }),
      el("button", { type: "button", class: "button small", id: "share-copy", text: "Copy link" }),
      el("button", { type: "button", class: "button small", id: "share-rotate", text: "New link",
        title: "Make a new link; the old one stops working at once" })),
    el("p", { class: "share-note", id: "share-note" }),
    el("div", { class: "dialog-buttons" },
      el("button", { type: "button", class: "button primary", id: "share-close", text: "Done",
        onclick: () => box.close() })));
  document.body.append(box);
  return box;
}

function showLink(model) {
  const on = Boolean(model.world_readable && model.share_url);
  document.getElementById("share-public").checked = on;
  document.getElementById("share-link-row").hidden = !on;
  document.getElementById("share-link").value = on ? absolute(model.share_url) : "";
  document.getElementById("share-note").textContent = on
    ? "The link opens a read-only view without logging in, only while this server is reachable."
    : "Off: nobody can open this file without logging in.";
}

async function copyLink() {
  const field = document.getElementById("share-link");
  try {
    await navigator.clipboard.writeText(field.value);
  } catch (_) {
    field.select();
    document.execCommand("copy"); // no clipboard API here (plain http on another host): the old way
  }
  toast("Link copied");
}

async function openShare(path) {
  const box = shareDialog();
  const model = await files.lookup(path);
  let id = model.id;
  document.getElementById("share-title").textContent = `Share “${model.name}”`;
  showLink(model);
  const toggle = document.getElementById("share-public");
  const act = (run) => async () => {
    try {
      showLink(await run());
    } catch (error) {
      toast(error.message, "error", 6);
      showLink(await files.lookup(path));
    }
  };
  toggle.onchange = act(() => files.setPublic(id, toggle.checked));
  document.getElementById("share-rotate").onclick = act(() => files.rotate(id));
  document.getElementById("share-copy").onclick = copyLink;
  box.showModal();
}

async function shareSelected() {
  const selected = [...rows.querySelectorAll("tr.selected[data-path]")];
  if (selected.length !== 1 || selected[0].dataset.type === "directory") {
    toast("Select one file to share.", "error");
    return;
  }
  try {
    await openShare(selected[0].dataset.path);
  } catch (error) {
    toast(error.message, "error", 6);
  }
}

// -- stars ---------------------------------------------------------------------------------------

async function loadStarred() {
  try {
    const page = await files.starred();
    starredPaths = new Set(page.items.filter((item) => !item.trashed).map((item) => item.path));
    return page.items;
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    return [];
  }
}

async function toggleStar(path, on) {
  try {
    const { id } = await files.lookup(path);
    await files.star(id, on);
    if (on) starredPaths.add(path);
    else starredPaths.delete(path);
    decorateRows();
  } catch (error) {
    toast(error.message, "error", 6);
  }
}

function starButton(path) {
  const on = starredPaths.has(path);
  return el("button", { type: "button", class: `star${on ? " on" : ""}`, text: on ? "★" : "☆",
    title: on ? "Unstar" : "Star", "aria-label": `${on ? "Unstar" : "Star"} ${path}`, "aria-pressed": String(on),
    onclick: () => toggleStar(path, !on) });
}

/** Give each file row of tree.js a star button showing its state. */
function decorateRows() {
  for (const row of rows.querySelectorAll("tr[data-path]")) {
    const cell = row.querySelector(".col-name");
    const old = cell.querySelector("button.star");
    const want = starredPaths.has(row.dataset.path);
    if (old && old.classList.contains("on") === want) continue;
    if (old) old.remove();
    cell.append(starButton(row.dataset.path));
  }
}

async function showStarred() {
  const list = document.getElementById("starred-list");
  const items = await loadStarred();
  list.replaceChildren(...items.map((item) => el("li", { dataset: { path: item.path } },
    el("a", { class: "name", href: item.type === "directory" ? url("tree", item.path) : url(item.type === "notebook" ? "notebooks" : "view", item.path) },
      el("span", { text: item.path })),
    item.trashed ? el("span", { class: "state", text: "in the trash" }) : null,
    el("button", { type: "button", class: "button small", text: "Unstar", "aria-label": `Unstar ${item.path}`,
      onclick: async () => { await toggleStar(item.path, false); await showStarred(); } }))));
  if (!items.length) list.append(el("li", { class: "empty", text: "No starred files: star one with ☆ in the file list." }));
}

// -- wiring --------------------------------------------------------------------------------------

new MutationObserver(decorateRows).observe(rows, { childList: true });
document.getElementById("share-button")?.addEventListener("click", shareSelected);
document.querySelector('.tab[data-tab="starred"]')?.addEventListener("click", showStarred);
loadStarred().then(decorateRows);
