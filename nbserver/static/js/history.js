// The checkpoint history dialog of the notebook page (File > Checkpoint history…): every
// checkpoint of the notebook, newest first; the selected one's cell-by-cell diff against the
// notebook on disk (GET .../checkpoints/<id>/diff); Restore and Delete for it.

import { contents, request, url } from "./api.js";
import { el, exactTime, timeAgo, toast } from "./ui.js";

const STATUS_LABELS = { added: "added since", removed: "removed since", modified: "changed", unchanged: "unchanged" };

function checkpointUrl(path, id) {
  return url("api/contents", path) + "/checkpoints/" + encodeURIComponent(id);
}

function diffLine(line) {
  const kind = line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : line.startsWith("@@") ? "hunk" : "same";
  return el("div", { class: `history-line ${kind}`, text: line });
}

/** The diff as elements: a summary line, then one block per cell that is not unchanged. */
function renderDiff(diff) {
  const { added, removed, modified, unchanged } = diff.summary;
  const summary = el("p", { class: "history-summary",
    text: `${modified} changed, ${added} added, ${removed} removed, ${unchanged} unchanged cells` +
      (diff.metadata_changed ? "; notebook metadata changed" : "") });
  const blocks = diff.cells.filter((cell) => cell.status !== "unchanged").map((cell) => {
    const where = cell.current_index !== null ? `cell ${cell.current_index + 1}` : `old cell ${cell.checkpoint_index + 1}`;
    const title = `${where} (${cell.cell_type}): ${STATUS_LABELS[cell.status]}` +
      (cell.outputs_changed ? ", outputs changed" : "");
    return el("div", { class: `history-cell ${cell.status}`, dataset: { status: cell.status } },
      el("div", { class: "history-cell-title", text: title }),
      cell.source_diff.length ? el("pre", { class: "history-source" }, cell.source_diff.slice(2).map(diffLine)) : null);
  });
  if (!blocks.length) blocks.push(el("p", { class: "history-same", text: "The notebook on disk is the same as this checkpoint." }));
  return [summary, ...blocks];
}

/**
 * Open the history of the notebook at ``path``. ``options.save`` saves unsaved edits first
 * (resolves to false when that failed); ``options.reload`` shows the notebook again after a restore.
 */
export async function openCheckpointHistory(path, options) {
  const list = el("ul", { class: "history-list", id: "history-list" });
  const pane = el("div", { class: "history-diff", id: "history-diff" });
  const restoreButton = el("button", { type: "button", class: "button primary", id: "history-restore", text: "Restore", disabled: true });
  const deleteButton = el("button", { type: "button", class: "button danger", id: "history-delete", text: "Delete", disabled: true });
  const closeButton = el("button", { type: "button", class: "button", id: "history-close", text: "Close" });
  const box = el("dialog", { class: "dialog history-dialog", id: "history-dialog", "aria-label": "Checkpoint history" },
    el("h2", { text: "Checkpoint history" }),
    el("div", { class: "history-body" }, list, pane),
    el("div", { class: "dialog-buttons" }, deleteButton, closeButton, restoreButton));
  document.body.append(box);
  let selected = null;

  const close = () => { box.close(); box.remove(); };
  closeButton.addEventListener("click", close);
  box.addEventListener("close", () => box.remove());

  async function select(checkpoint, item) {
    selected = checkpoint;
    for (const other of list.children) other.classList.toggle("selected", other === item);
    restoreButton.disabled = deleteButton.disabled = false;
    pane.replaceChildren(el("p", { class: "history-loading", text: "Comparing…" }));
    try {
      pane.replaceChildren(...renderDiff(await request("GET", checkpointUrl(path, checkpoint.id) + "/diff")));
    } catch (error) {
      pane.replaceChildren(el("p", { class: "history-error", text: `Cannot compare: ${error.message}` }));
    }
  }

  async function refresh() {
    // The API lists oldest first (the latest last, as Jupyter clients expect); the dialog shows newest first.
    const checkpoints = (await contents.checkpoints(path)).reverse();
    list.replaceChildren(...checkpoints.map((checkpoint, index) => {
      const item = el("li", { class: "history-item", tabindex: 0, dataset: { id: checkpoint.id } },
        el("span", { class: "history-when", text: exactTime(checkpoint.last_modified) }),
        el("span", { class: "history-ago", text: index === 0 ? `${timeAgo(checkpoint.last_modified)} · latest` : timeAgo(checkpoint.last_modified) }));
      item.addEventListener("click", () => select(checkpoint, item));
      item.addEventListener("keydown", (event) => { if (event.key === "Enter") select(checkpoint, item); });
      return item;
    }));
    selected = null;
    restoreButton.disabled = deleteButton.disabled = true;
    if (!checkpoints.length) {
      pane.replaceChildren(el("p", { class: "history-same", text: "No checkpoints yet: use Save and checkpoint." }));
    } else {
      await select(checkpoints[0], list.firstChild);
    }
  }

  restoreButton.addEventListener("click", async () => {
    if (!selected) return;
    try {
      await request("POST", checkpointUrl(path, selected.id));
      await options.reload();
      toast(`Restored the checkpoint of ${exactTime(selected.last_modified)}`);
      close();
    } catch (error) {
      toast(`Could not restore: ${error.message}`, "error");
    }
  });
  deleteButton.addEventListener("click", async () => {
    if (!selected) return;
    try {
      await request("DELETE", checkpointUrl(path, selected.id));
      toast("Checkpoint deleted");
      await refresh();
    } catch (error) {
      toast(`Could not delete: ${error.message}`, "error");
    }
  });

  if (!(await options.save())) {
    box.remove();
    return;
  }
  box.showModal();
  try {
    await refresh();
  } catch (error) {
    pane.replaceChildren(el("p", { class: "history-error", text: error.message }));
  }
}
