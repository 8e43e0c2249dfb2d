// The text editor page: load a file through /api/contents into CodeMirror (static/dist/editor.js),
// save it back with Ctrl+S or the button.

import { createEditor, languageOfFile, setReadOnly, setText, tabKeys } from "../dist/editor.js";
import { basename, contents } from "./api.js";
import { exactTime, toast } from "./ui.js";

const path = document.body.dataset.path;
const state = { lastModified: null, dirty: false, saving: false, loaded: false };
const editor = createEditor(document.getElementById("editor"), {
  doc: "Loading…",
  readOnly: true,
  lineNumbers: true,
  fallbackKeys: tabKeys,
  label: "File contents",
  language: languageOfFile(basename(path)),
  onChange: () => {
    if (!state.loaded) return;
    state.dirty = true;
    saveState.textContent = "Unsaved changes";
  },
});
const saveState = document.getElementById("save-state");

function showBanner(text, buttons) {
  const banner = document.getElementById("banner");
  document.getElementById("banner-text").textContent = text;
  const box = document.getElementById("banner-actions");
  box.replaceChildren();
  for (const [label, action] of buttons) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button small";
    button.textContent = label;
    button.addEventListener("click", action);
    box.append(button);
  }
  banner.className = "banner warning";
  banner.hidden = false;
}

async function load() {
  try {
    const model = await contents.get(path, { type: "file", format: "text" });
    setText(editor, model.content);
    setReadOnly(editor, false);
    editor.dispatch({ selection: { anchor: 0 } });
    state.loaded = true;
    state.lastModified = model.last_modified;
    saveState.textContent = `Last saved ${exactTime(model.last_modified)}`;
    editor.focus();
  } catch (error) {
    setText(editor, "");
    showBanner(`This file cannot be edited as text: ${error.message}`, []);
  }
}

async function save(force = false) {
  if (state.saving || !state.loaded) return;
  if (!force) {
    const current = await contents.get(path, { content: 0 }).catch(() => null);
    if (current && state.lastModified && new Date(current.last_modified) > new Date(state.lastModified)) {
      showBanner(`“${basename(path)}” changed on disk at ${exactTime(current.last_modified)}, after you opened it.`, [
        ["Reload it (lose my changes)", () => location.reload()],
        ["Overwrite with my version", () => { document.getElementById("banner").hidden = true; save(true); }],
      ]);
      return;
    }
  }
  state.saving = true;
  saveState.textContent = "Saving…";
  try {
    const model = await contents.save(path, { type: "file", format: "text", content: editor.state.doc.toString() });
    state.lastModified = model.last_modified;
    state.dirty = false;
    saveState.textContent = "Saved";
    toast("File saved");
  } catch (error) {
    saveState.textContent = "Not saved";
    toast(`Could not save: ${error.message}`, "error", 8);
  } finally {
    state.saving = false;
  }
}

document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
    event.preventDefault();
    save();
  }
});
document.getElementById("save-button").addEventListener("click", () => save());
window.addEventListener("beforeunload", (event) => {
  if (state.dirty) {
    event.preventDefault();
    event.returnValue = "";
  }
});
load();
