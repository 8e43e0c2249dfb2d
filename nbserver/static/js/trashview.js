// The dashboard's Trash view: the server's trash (GET /api/trash, paged), Restore, Delete forever, Empty trash.

import { ApiError, basename, dirname, trash } from "./api.js";
import { dialog, el, exactTime, humanSize, timeAgo, toast } from "./ui.js";

const PAGE_SIZE = 50; // items per GET /api/trash; "Show more" follows next_cursor
const icons = document.body.dataset.baseUrl + "static/icons/";

const view = {
  items: [],
  total: 0,
  totalSize: 0,
  nextCursor: null,
  loading: false,
  onChange: () => {},
};

const rows = () => document.getElementById("trash-rows");

function iconFor(item) {
  if (item.type === "directory") return "folder.svg";
  return item.type === "notebook" ? "notebook.svg" : "file.svg";
}

function quoted(item) {
  return `“${basename(item.original_path)}”`;
}

/** The day an item is deleted for good ("Dec 29, 2026"): a date reads better than "in 4 weeks". */
function expiryDate(iso) {
  return new Date(iso).toLocaleDateString(undefined, { dateStyle: "medium" });
}

function retentionNote() {
  const days = Number(document.body.dataset.trashRetentionDays || "0");
  if (!days) return "Items stay until you delete them or empty the trash.";
  return `Items are deleted for good ${days === 1 ? "1 day" : `${days} days`} after they were moved here.`;
}

function render() {
  const body = rows();
  body.replaceChildren();
  if (!view.items.length) {
    body.append(el("tr", { class: "placeholder" }, el("td", { colspan: 6, text: "The trash is empty." })));
  }
  for (const item of view.items) {
    const folder = dirname(item.original_path);
    body.append(el("tr", { dataset: { id: item.id, path: item.original_path } },
      el("td", { class: "col-name" },
        el("span", { class: "name" },
          el("img", { class: "icon", src: icons + iconFor(item), alt: "" }),
          el("span", { text: basename(item.original_path) }))),
      el("td", { class: "col-origin", title: item.original_path, text: folder ? `/${folder}` : "/ (top folder)" }),
      el("td", { class: "col-modified col-trashed", title: exactTime(item.trashed_at), text: timeAgo(item.trashed_at) }),
      el("td", { class: "col-modified col-expires", title: item.expires_at ? timeAgo(item.expires_at) : "",
                 text: item.expires_at ? expiryDate(item.expires_at) : "never" }),
      el("td", { class: "col-size", text: humanSize(item.size) }),
      el("td", { class: "col-trash-actions" },
        el("button", { type: "button", class: "button small", text: "Restore", dataset: { trashAction: "restore" },
                       "aria-label": `Restore ${basename(item.original_path)}`, onclick: () => restore(item) }),
        el("button", { type: "button", class: "button small danger", text: "Delete forever", dataset: { trashAction: "delete" },
                       "aria-label": `Delete ${basename(item.original_path)} forever`, onclick: () => deleteForever(item) }))));
  }
  const count = view.total === 1 ? "1 item" : `${view.total} items`;
  document.getElementById("trash-summary").textContent =
    `${count}, ${humanSize(view.totalSize)}. ${retentionNote()}`;
  document.getElementById("empty-trash").disabled = view.total === 0;
  document.getElementById("trash-more").hidden = !view.nextCursor;
}

async function loadPage(cursor) {
  if (view.loading) return;
  view.loading = true;
  try {
    const page = await trash.list(cursor, PAGE_SIZE);
    view.items = cursor ? [...view.items, ...page.items] : page.items;
    view.total = page.total;
    view.totalSize = page.total_size;
    view.nextCursor = page.next_cursor;
    render();
  } catch (error) {
    rows().replaceChildren(el("tr", { class: "placeholder" },
      el("td", { colspan: 6, text: `Could not list the trash: ${error.message}` })));
  } finally {
    view.loading = false;
  }
}

/** Reload the trash from its first page (the items shown so far are replaced). */
export function refreshTrash() {
  return loadPage(null);
}

async function afterChange() {
  await refreshTrash();
  view.onChange();
}

async function restore(item) {
  try {
    const restored = await trash.restore(item.id);
    toast(`Restored ${quoted(item)} to /${restored.path}`);
  } catch (error) {
    if (!(error instanceof ApiError && error.data?.code === "restore_conflict")) {
      toast(error.message, "error", 6);
      await afterChange();
      return;
    }
    const copy = await dialog({
      title: "Restore as a copy?",
      message: `Something else is at /${error.data.conflict_path} now. Restore ${quoted(item)} beside it `
        + "under a new name (“… (restored)”)? The other file is left as it is.",
      ok: "Restore as a copy",
    });
    if (copy) {
      try {
        const restored = await trash.restore(item.id, { on_conflict: "rename" });
        toast(`Restored ${quoted(item)} as /${restored.path}`);
      } catch (again) {
        toast(again.message, "error", 6);
      }
    }
  }
  await afterChange();
}

async function deleteForever(item) {
  const what = item.type === "directory" ? `the folder ${quoted(item)} and everything in it` : quoted(item);
  const ok = await dialog({
    title: "Delete forever",
    message: `Delete ${what} permanently? It is removed from the trash and cannot be restored.`,
    ok: "Delete forever",
    danger: true,
  });
  if (!ok) return;
  try {
    await trash.deleteForever(item.id);
    toast(`Deleted ${quoted(item)} forever`);
  } catch (error) {
    toast(error.message, "error", 6);
  }
  await afterChange();
}

async function emptyTrash() {
  const count = view.total === 1 ? "the 1 item" : `all ${view.total} items`;
  const ok = await dialog({
    title: "Empty trash",
    message: `Delete ${count} in the trash permanently (${humanSize(view.totalSize)})? They cannot be restored.`,
    ok: "Empty trash",
    danger: true,
  });
  if (!ok) return;
  try {
    await trash.empty();
    toast("The trash is empty");
  } catch (error) {
    toast(error.message, "error", 6);
  }
  await afterChange();
}

/** Wire the Trash panel's buttons; ``onChange`` runs after a restore or delete (the file list may change). */
export function wireTrashView(onChange) {
  view.onChange = onChange;
  document.getElementById("empty-trash").addEventListener("click", emptyTrash);
  document.getElementById("trash-refresh").addEventListener("click", refreshTrash);
  document.getElementById("trash-more").addEventListener("click", () => loadPage(view.nextCursor));
}
