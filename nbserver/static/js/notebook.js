// The notebook page: render a notebook from /api/contents, edit and run its cells over the
// kernel websocket, save it back (Ctrl+S, autosave, checkpoints), and notice changes on disk.

import { completionStatus, createEditor, indentLess, indentOrInsert, indentsHere, infoShowing, setLanguage, showInfo }
  from "../dist/editor.js";
import { ApiError, basename, contents, dirname, joinPath, kernels, readResponse, sessions, url } from "./api.js";
import { openCheckpointHistory } from "./history.js";
import { KernelConnection } from "./kernel.js";
import { completeAtCursor, completionSource, inspectAtCursor } from "./kernel-assist.js";
import { markdownNode, renderOutput } from "./outputs.js";
import { dialog, dropdown, el, exactTime, toast } from "./ui.js";

const AUTOSAVE_SECONDS = 120;
let path = document.body.dataset.path;
const printView = document.body.dataset.print === "true";
const container = document.getElementById("notebook");

const nb = {
  metadata: {},
  nbformatMinor: 5,
  cells: [], // Cell objects, in order
  selected: 0,
  dirty: false,
  lastModified: null,
  saving: false,
  conflict: false,
};
let kernel = null;

// Cells get their editor when they come within a screen or so of the viewport.
const editorsNearView = new IntersectionObserver((entries) => {
  for (const entry of entries) if (entry.isIntersecting) entry.target.closest(".cell").cell.ensureEditor();
}, { rootMargin: "100% 0px" });

function newCellId() {
  return (crypto.randomUUID ? crypto.randomUUID() : String(Math.random()).slice(2)).replace(/-/g, "").slice(0, 8);
}

function joined(value) {
  return Array.isArray(value) ? value.join("") : String(value ?? "");
}

const markdownOptions = {
  resolveImage: (target) => (target.startsWith("/") ? target : url("files", joinPath(dirname(path), target))),
  resolveLink: (target) => (target.startsWith("/") ? target : url("tree", joinPath(dirname(path), target))),
};

// -- cells --------------------------------------------------------------------------------------

class Cell {
  constructor(model) {
    this.id = model.id || newCellId();
    this.type = model.cell_type;
    this.metadata = model.metadata || {};
    this.attachments = model.attachments;
    this.outputs = model.cell_type === "code" ? [...(model.outputs || [])] : [];
    this.executionCount = model.execution_count ?? null;
    this.running = false;
    this.build(joined(model.source));
  }

  build(source) {
    this.prompt = el("div", { class: "prompt" });
    // The text shows as plain text until the cell nears the viewport or is used: then CodeMirror
    // takes over (ensureEditor), so a long notebook opens without building hundreds of editors.
    this.initialText = source;
    this.editor = null;
    this.source = el("div", { class: "source" }, el("pre", { class: "source-text", text: source || " " }));
    this.rendered = el("div", { class: "markdown-rendered" });
    this.outputArea = el("div", { class: "outputs" });
    this.node = el("div", { class: "cell", dataset: { cellId: this.id } },
      this.prompt,
      el("div", { class: "cell-body" }, el("div", { class: "input" }, this.source), this.rendered, this.outputArea));
    this.node.cell = this;
    this.node.addEventListener("mousedown", (event) => {
      if (!this.node.contains(event.target)) return;
      if (!this.source.contains(event.target)) select(this, { edit: false, keepFocus: true });
      else if (!this.editor && !printView) {
        event.preventDefault();
        this.focus();
      }
    });
    this.rendered.addEventListener("dblclick", () => this.edit());
    this.setType(this.type);
    if (printView) this.ensureEditor();
    else editorsNearView.observe(this.source);
  }

  /** The cell's CodeMirror editor, made on first need. */
  ensureEditor() {
    if (this.editor) return this.editor;
    editorsNearView.unobserve(this.source);
    this.source.replaceChildren();
    this.editor = createEditor(this.source, {
      doc: this.initialText,
      language: this.language,
      readOnly: printView,
      label: "Cell source",
      keys: printView ? [] : editorKeys(this),
      fallbackKeys: printView ? [] : editorFallbackKeys(this),
      completions: completionSource,
      onChange: () => markDirty(),
      onFocus: () => select(this, { edit: true }),
    });
    return this.editor;
  }

  /** Whether this code cell's outputs may run script: the server marks the cells of notebooks
   *  this user saved or trusted (metadata.trusted), and outputs made by running it here count. */
  get trusted() {
    return this.metadata.trusted === true;
  }

  get outputOptions() {
    return { ...markdownOptions, trusted: this.trusted };
  }

  get text() {
    return this.editor ? this.editor.state.doc.toString() : this.initialText;
  }

  get editing() {
    return Boolean(this.editor && this.editor.hasFocus);
  }

  focus() {
    this.ensureEditor().focus();
  }

  blur() {
    if (this.editor) this.editor.contentDOM.blur();
  }

  setType(type) {
    this.node.classList.remove("code", "markdown", "raw");
    this.type = type;
    this.node.classList.add(type);
    if (type !== "code") {
      this.outputs = [];
      this.executionCount = null;
    }
    // An empty markdown cell stays open for typing; one with text shows rendered.
    if (type === "markdown" && this.text.trim()) this.renderMarkdown();
    else this.node.classList.remove("rendered");
    this.updatePrompt();
    this.renderOutputs();
    this.applyLanguage();
  }

  /** Code in the kernel's language, markdown as markdown, raw cells plain. */
  get language() {
    return this.type === "code" ? codeLanguage() : this.type === "markdown" ? "markdown" : "";
  }

  applyLanguage() {
    const language = this.language;
    if (this.editor && this.editor.languageName !== language) setLanguage(this.editor, language);
  }

  renderMarkdown() {
    const rendered = markdownNode(this.text, { ...markdownOptions, attachmentUrl: (target) => this.attachmentUrl(target) });
    this.rendered.replaceChildren(...rendered.childNodes);
    this.node.classList.add("rendered");
  }

  /** A data: URL for ``attachment:name`` (raster images only), null for other targets. */
  attachmentUrl(target) {
    if (!target.startsWith("attachment:")) return null;
    const bundle = (this.attachments || {})[decodeURIComponent(target.slice("attachment:".length))] || {};
    const type = ["image/png", "image/jpeg", "image/gif"].find((candidate) => typeof bundle[candidate] === "string");
    return type ? `data:${type};base64,${bundle[type].replace(/\s/g, "")}` : "";
  }

  edit() {
    if (this.type !== "markdown" || printView) return;
    this.node.classList.remove("rendered");
    this.focus();
  }

  updatePrompt() {
    if (this.type !== "code") {
      this.prompt.textContent = "";
      return;
    }
    this.prompt.textContent = this.running ? "[*]:" : `[${this.executionCount ?? " "}]:`;
    this.node.classList.toggle("running", this.running);
  }

  renderOutputs() {
    this.outputArea.replaceChildren();
    this.outputs.forEach((output) => {
      const node = renderOutput(output, this.outputOptions);
      if (output.output_type === "execute_result") node.dataset.prompt = `Out[${output.execution_count ?? ""}]`;
      this.outputArea.append(node);
    });
  }

  addOutput(output) {
    const last = this.outputs[this.outputs.length - 1];
    if (output.output_type === "stream" && last && last.output_type === "stream" && last.name === output.name) {
      last.text = joined(last.text) + joined(output.text);
      this.outputArea.lastChild.replaceWith(renderOutput(last, this.outputOptions));
      return;
    }
    this.outputs.push(output);
    const node = renderOutput(output, this.outputOptions);
    if (output.output_type === "execute_result") node.dataset.prompt = `Out[${output.execution_count ?? ""}]`;
    this.outputArea.append(node);
  }

  clearOutputs() {
    this.outputs = [];
    this.outputArea.replaceChildren();
  }

  toJSON() {
    const source = this.text;
    const model = { id: this.id, cell_type: this.type, metadata: this.metadata, source };
    if (this.type === "code") {
      model.outputs = this.outputs;
      model.execution_count = this.executionCount;
    } else if (this.attachments && this.type !== "raw") {
      model.attachments = this.attachments;
    }
    return model;
  }
}

/** The code cells' language for the editor: language_info's codemirror_mode or name, else the
 *  kernelspec's language, else Python (nbformat's language_info, kernel_info_reply). */
function codeLanguage() {
  const info = nb.metadata.language_info || {};
  const mode = typeof info.codemirror_mode === "string" ? info.codemirror_mode : (info.codemirror_mode || {}).name;
  return String(mode || info.name || (nb.metadata.kernelspec && nb.metadata.kernelspec.language) || "python").toLowerCase();
}

function cellIndex(cell) {
  return nb.cells.indexOf(cell);
}

function select(cell, { edit = false, keepFocus = false } = {}) {
  if (!cell) return;
  const previous = nb.cells[nb.selected];
  if (previous && previous !== cell) {
    previous.node.classList.remove("selected", "editing");
    if (previous.type === "markdown" && !previous.node.classList.contains("rendered") && previous.text.trim()) previous.renderMarkdown();
  }
  nb.selected = cellIndex(cell);
  cell.node.classList.add("selected");
  cell.node.classList.toggle("editing", edit);
  const typeSelect = document.getElementById("cell-type");
  if (typeSelect) typeSelect.value = cell.type;
  if (edit) {
    if (!cell.editing) cell.focus();
  } else if (!keepFocus && !printView) {
    container.focus({ preventScroll: true });
  }
  if (!printView && !keepFocus) cell.node.scrollIntoView({ block: "nearest" });
}

function commandMode() {
  const cell = nb.cells[nb.selected];
  if (!cell) return;
  cell.node.classList.remove("editing");
  cell.blur();
  container.focus({ preventScroll: true });
}

function insertCell(at, type = "code", source = "") {
  const cell = new Cell({ cell_type: type, source, metadata: {}, outputs: [] });
  if (type === "markdown" && !source) cell.node.classList.remove("rendered");
  nb.cells.splice(at, 0, cell);
  const before = container.querySelectorAll(".cell")[at] || document.getElementById("add-cell");
  container.insertBefore(cell.node, before);
  markDirty();
  return cell;
}

function deleteCell(cell) {
  const index = cellIndex(cell);
  if (index < 0) return;
  nb.cells.splice(index, 1);
  cell.node.remove();
  if (!nb.cells.length) insertCell(0);
  nb.selected = Math.min(index, nb.cells.length - 1);
  select(nb.cells[nb.selected]);
  markDirty();
}

function moveCell(cell, step) {
  const index = cellIndex(cell);
  const target = index + step;
  if (target < 0 || target >= nb.cells.length) return;
  nb.cells.splice(index, 1);
  nb.cells.splice(target, 0, cell);
  const reference = step < 0 ? nb.cells[target + 1].node : nb.cells[target - 1].node.nextSibling;
  container.insertBefore(cell.node, reference);
  nb.selected = target;
  select(cell, { keepFocus: true });
  cell.node.scrollIntoView({ block: "nearest" });
  markDirty();
}

function changeType(cell, type) {
  if (cell.type === type) return;
  cell.setType(type);
  markDirty();
  select(cell);
}

function renderAll() {
  container.replaceChildren(...nb.cells.map((cell) => cell.node));
  if (!printView) {
    container.append(el("button", { type: "button", class: "button add-cell", id: "add-cell", text: "+ Add cell",
      onclick: () => select(insertCell(nb.cells.length), { edit: true }) }));
  }
  if (nb.cells.length) select(nb.cells[Math.min(nb.selected, nb.cells.length - 1)], { keepFocus: true });
}

// -- running ------------------------------------------------------------------------------------

function runCell(cell) {
  if (cell.type === "markdown") {
    cell.renderMarkdown();
    return;
  }
  if (cell.type !== "code") return;
  if (!kernel || !kernel.kernelId) {
    toast("No kernel: the notebook cannot run code now.", "error");
    return;
  }
  cell.clearOutputs();
  cell.metadata.trusted = true; // what it prints now comes from this user's own run (saved so, it is signed)
  cell.running = true;
  cell.updatePrompt();
  markDirty();
  let clearPending = false;
  kernel.execute(cell.text, (message) => {
    const type = message.msg_type;
    const content = message.content;
    if (message.channel === "iopub") {
      if (clearPending && ["stream", "display_data", "execute_result", "error"].includes(type)) {
        cell.clearOutputs();
        clearPending = false;
      }
      if (type === "execute_input") {
        cell.executionCount = content.execution_count;
      } else if (type === "stream") {
        cell.addOutput({ output_type: "stream", name: content.name, text: content.text });
      } else if (type === "display_data" || type === "execute_result") {
        const output = { output_type: type, data: content.data, metadata: content.metadata || {} };
        if (type === "execute_result") output.execution_count = content.execution_count;
        cell.addOutput(output);
        const displayId = content.transient && content.transient.display_id;
        if (displayId) displays.set(output, displayId);
      } else if (type === "update_display_data") {
        updateDisplay(content);
      } else if (type === "error") {
        cell.addOutput({ output_type: "error", ename: content.ename, evalue: content.evalue, traceback: content.traceback });
      } else if (type === "clear_output") {
        if (content.wait) clearPending = true;
        else cell.clearOutputs();
      }
    } else if (message.channel === "stdin" && type === "input_request") {
      askForInput(cell, content, message.header);
    } else if (message.channel === "shell" && type === "execute_reply") {
      for (const box of cell.outputArea.querySelectorAll(".output.stdin")) box.remove(); // interrupted while asking
      cell.running = false;
      if (content.execution_count !== undefined) cell.executionCount = content.execution_count;
      cell.updatePrompt();
      markDirty();
    }
  });
}

// Outputs shown with a display_id, so update_display_data can find them in any cell.
const displays = new WeakMap();

function updateDisplay(content) {
  const displayId = content.transient && content.transient.display_id;
  if (!displayId) return;
  for (const cell of nb.cells) {
    let changed = false;
    for (const output of cell.outputs) {
      if (displays.get(output) === displayId) {
        output.data = content.data;
        output.metadata = content.metadata || {};
        changed = true;
      }
    }
    if (changed) cell.renderOutputs();
  }
}

/** A field under the cell for Python's input(); its answer stays in the output as a stream. */
function askForInput(cell, request, header) {
  const field = el("input", { type: request.password ? "password" : "text", class: "stdin-field",
    "aria-label": request.prompt || "Input" });
  const box = el("div", { class: "output stdin" }, el("span", { class: "stdin-prompt", text: request.prompt }), field);
  cell.outputArea.append(box);
  field.focus();
  field.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    event.stopPropagation();
    kernel.inputReply(field.value, header);
    box.remove();
    const echo = request.password ? "·".repeat(field.value.length) : field.value;
    cell.addOutput({ output_type: "stream", name: "stdout", text: `${request.prompt}${echo}\n` });
  });
}

function runAndAdvance(cell, insert = false) {
  runCell(cell);
  const index = cellIndex(cell);
  if (insert || index === nb.cells.length - 1) select(insertCell(index + 1), { edit: true });
  else select(nb.cells[index + 1], { edit: nb.cells[index + 1].type === "code" });
}

function setKernelState(state) {
  const indicator = document.getElementById("kernel-indicator");
  indicator.dataset.state = state;
  document.getElementById("kernel-status").textContent = state;
  indicator.title = `Kernel ${state}`;
  if (state === "dead") {
    showBanner("The kernel has died or was shut down.", "error", [["Start a new kernel", () => { hideBanner(); startKernel(); }]]);
  }
}

async function startKernel() {
  if (kernel) kernel.close();
  kernel = new KernelConnection({ onStatus: setKernelState, onMessage: () => {} });
  const params = new URLSearchParams(location.search);
  const wanted = (nb.metadata.kernelspec && nb.metadata.kernelspec.name) || params.get("kernel_name") || "";
  try {
    const model = await kernel.start(path, wanted);
    await describeKernel(model.name);
  } catch (error) {
    setKernelState("dead");
    showBanner(`Could not start a kernel: ${error.message}`, "error", [["Try again", () => { hideBanner(); startKernel(); }]]);
  }
}

/** Record the kernelspec in the notebook metadata and show its name. */
async function describeKernel(name) {
  let display = name;
  let language = nb.metadata.kernelspec && nb.metadata.kernelspec.language;
  try {
    const specs = await kernels.specs();
    const spec = specs.kernelspecs[name];
    if (spec) {
      display = spec.spec.display_name;
      language = spec.spec.language;
    }
  } catch (_) { /* kernelspecs not served: keep the name */ }
  document.getElementById("kernel-name").textContent = display;
  // Recorded for the next save; not a change the person made, so the page stays "saved".
  nb.metadata.kernelspec = { name, display_name: display, language: language || "" };
  for (const cell of nb.cells) cell.applyLanguage();
}

async function restartKernel() {
  if (!kernel || !kernel.kernelId) return startKernel();
  const ok = await dialog({ title: "Restart kernel?", message: "All variables will be lost.", ok: "Restart", danger: true });
  if (!ok) return;
  try {
    for (const cell of nb.cells) if (cell.running) { cell.running = false; cell.updatePrompt(); }
    kernel.forgetPending();
    await kernel.restart();
    toast("Kernel restarted");
  } catch (error) {
    toast(`Restart failed: ${error.message}`, "error");
  }
}

// -- saving -------------------------------------------------------------------------------------

function setSaveState(text) {
  const box = document.getElementById("save-state");
  if (box) box.textContent = text;
}

function markDirty() {
  if (printView) return;
  nb.dirty = true;
  setSaveState("Unsaved changes");
}

function notebookJSON() {
  if (kernel && kernel.info && kernel.info.language_info) {
    nb.metadata.language_info = kernel.info.language_info;
  }
  return { cells: nb.cells.map((cell) => cell.toJSON()), metadata: nb.metadata, nbformat: 4, nbformat_minor: Math.max(nb.nbformatMinor, 5) };
}

async function changedOnDisk() {
  try {
    const model = await contents.get(path, { content: 0 });
    return nb.lastModified && new Date(model.last_modified) > new Date(nb.lastModified) ? model : null;
  } catch (error) {
    return null;
  }
}

async function save({ force = false, quiet = false } = {}) {
  if (nb.saving || printView) return false;
  if (!force) {
    const newer = await changedOnDisk();
    if (newer) {
      nb.conflict = true;
      showBanner(`“${basename(path)}” changed on disk at ${exactTime(newer.last_modified)}, after you opened it.`, "warning", [
        ["Reload it (lose my changes)", () => location.reload()],
        ["Overwrite with my version", () => { hideBanner(); save({ force: true }); }],
      ]);
      return false;
    }
  }
  nb.saving = true;
  setSaveState("Saving…");
  try {
    const model = await contents.save(path, { type: "notebook", format: "json", content: notebookJSON() });
    nb.lastModified = model.last_modified;
    nb.dirty = false;
    nb.conflict = false;
    setSaveState(`Saved ${new Date().toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" })}`);
    if (!quiet) toast("Notebook saved");
    return true;
  } catch (error) {
    setSaveState("Not saved");
    toast(`Could not save: ${error.message}`, "error", 8);
    return false;
  } finally {
    nb.saving = false;
  }
}

async function saveCheckpoint() {
  if (!(await save())) return;
  try {
    const checkpoint = await contents.createCheckpoint(path);
    toast(`Checkpoint saved at ${exactTime(checkpoint.last_modified)}`);
  } catch (error) {
    toast(`Could not save a checkpoint: ${error.message}`, "error");
  }
}

async function restoreCheckpoint() {
  try {
    const list = await contents.checkpoints(path);
    if (!list.length) {
      toast("There is no checkpoint yet: use Save and checkpoint first.");
      return;
    }
    const latest = list[list.length - 1]; // oldest first, as Jupyter lists them: the last is "checkpoint", the latest
    const ok = await dialog({ title: "Revert to checkpoint?", message: `The notebook goes back to how it was at ${exactTime(latest.last_modified)}. Changes since then are lost.`, ok: "Revert", danger: true });
    if (!ok) return;
    await contents.restoreCheckpoint(path, latest.id);
    await load();
    toast("Reverted to the checkpoint");
  } catch (error) {
    toast(error.message, "error");
  }
}

async function renameNotebook() {
  const name = await dialog({ title: "Rename notebook", input: basename(path), ok: "Rename" });
  if (!name || name === basename(path)) return;
  const newPath = joinPath(dirname(path), name.endsWith(".ipynb") ? name : `${name}.ipynb`);
  try {
    const model = await contents.rename(path, newPath);
    if (kernel && kernel.sessionId) await sessions.rename(kernel.sessionId, newPath).catch(() => {});
    path = model.path;
    nb.lastModified = model.last_modified;
    document.getElementById("doc-name").textContent = model.name;
    document.title = `${model.name} · nbserver`;
    history.replaceState(null, "", url("notebooks", path));
    for (const link of document.querySelectorAll("a[data-prefix]")) link.href = url(link.dataset.prefix, path) + link.dataset.query;
    toast(`Renamed to ${model.name}`);
  } catch (error) {
    toast(`Could not rename: ${error.message}`, "error");
  }
}

// -- banner -------------------------------------------------------------------------------------

function showBanner(text, kind, buttons = []) {
  const banner = document.getElementById("banner");
  banner.className = `banner ${kind}`;
  document.getElementById("banner-text").textContent = text;
  document.getElementById("banner-actions").replaceChildren(...buttons.map(([label, action]) =>
    el("button", { type: "button", class: "button small", text: label, onclick: action })));
  banner.hidden = false;
}

function hideBanner() {
  document.getElementById("banner").hidden = true;
}

// -- keyboard -----------------------------------------------------------------------------------

/** Keys that win over the editor's own: running cells (CodeMirror key names). */
function editorKeys(cell) {
  return [
    { key: "Shift-Enter", run: () => { runAndAdvance(cell); return true; } },
    { key: "Ctrl-Enter", mac: "Cmd-Enter", run: () => { runCell(cell); if (cell.type !== "code") commandMode(); return true; } },
    { key: "Alt-Enter", run: () => { runAndAdvance(cell, true); return true; } },
  ];
}

/** Keys after the completion list's and before the editor's defaults: Escape, Tab, Shift+Tab. */
function editorFallbackKeys(cell) {
  return [
    { key: "Escape", run: (view) => {
      if (infoShowing(view)) showInfo(view, 0, null);
      else commandMode();
      return true;
    } },
    // Tab indents at the start of a line or a selection, else completes from the kernel (code cells).
    { key: "Tab", run: (view) => {
      const before = view.state.sliceDoc(view.state.doc.lineAt(view.state.selection.main.head).from, view.state.selection.main.head);
      if (cell.type !== "code" || indentsHere(view) || /\s$/.test(before)) return indentOrInsert(view);
      if (completionStatus(view.state) === null) completeAtCursor(view, kernel);
      return true;
    } },
    // Shift+Tab dedents where Tab would indent, else shows what the kernel knows of the name.
    { key: "Shift-Tab", run: (view) => {
      if (cell.type !== "code" || indentsHere(view)) return indentLess(view);
      inspectAtCursor(view, kernel);
      return true;
    } },
  ];
}

let lastCommandKey = "";
function onCommandKey(event) {
  if (event.target.closest("textarea, input, select, dialog, .cm-editor")) return;
  const cell = nb.cells[nb.selected];
  if (!cell) return;
  const key = event.key;
  const twice = lastCommandKey === key;
  lastCommandKey = key;
  const handled = {
    Enter: () => (event.shiftKey ? runAndAdvance(cell) : (cell.type === "markdown" ? cell.edit() : select(cell, { edit: true }))),
    ArrowUp: () => select(nb.cells[Math.max(nb.selected - 1, 0)]),
    k: () => select(nb.cells[Math.max(nb.selected - 1, 0)]),
    ArrowDown: () => select(nb.cells[Math.min(nb.selected + 1, nb.cells.length - 1)]),
    j: () => select(nb.cells[Math.min(nb.selected + 1, nb.cells.length - 1)]),
    a: () => select(insertCell(nb.selected)),
    b: () => select(insertCell(nb.selected + 1)),
    m: () => changeType(cell, "markdown"),
    y: () => changeType(cell, "code"),
    r: () => changeType(cell, "raw"),
    d: () => { if (twice) { deleteCell(cell); lastCommandKey = ""; } },
    i: () => { if (twice) { commands.interrupt(); lastCommandKey = ""; } },
    0: () => { if (twice) { commands.restart(); lastCommandKey = ""; } },
  }[key];
  if (handled && !event.ctrlKey && !event.metaKey && !event.altKey) {
    event.preventDefault();
    handled();
  }
}

const SHORTCUTS = [
  ["Shift+Enter", "run the cell, go to the next"],
  ["Ctrl+Enter", "run the cell, stay"],
  ["Alt+Enter", "run the cell, insert one below"],
  ["Ctrl+S", "save"],
  ["Esc / Enter", "leave the cell (command mode) / edit it"],
  ["↑ ↓  k j", "select a cell (command mode)"],
  ["a  b", "insert a cell above, below"],
  ["m  y  r", "make it markdown, code, raw"],
  ["d d", "delete the cell"],
  ["i i  0 0", "interrupt, restart the kernel"],
  ["Tab / Shift+Tab", "complete from the kernel / show its help (in code); indent / dedent at a line's start"],
  ["Ctrl+/", "comment or uncomment the lines"],
  ["Ctrl+F", "search (and replace) in the cell"],
  ["Ctrl+D  Ctrl+click", "add the next occurrence / another cursor"],
  ["Ctrl+Z  Ctrl+Shift+Z", "undo, redo in the cell"],
];

function shortcutTable() {
  return el("table", { class: "shortcuts" }, SHORTCUTS.map(([keys, what]) =>
    el("tr", {}, el("td", {}, el("kbd", { text: keys })), el("td", { text: what }))));
}

const commands = {
  save: () => save(),
  "insert-below": () => select(insertCell(nb.selected + 1), { edit: true }),
  "delete-cell": () => deleteCell(nb.cells[nb.selected]),
  "move-up": () => moveCell(nb.cells[nb.selected], -1),
  "move-down": () => moveCell(nb.cells[nb.selected], 1),
  run: () => runAndAdvance(nb.cells[nb.selected]),
  "run-all": () => { for (const cell of nb.cells) runCell(cell); },
  interrupt: async () => {
    if (!kernel || !kernel.kernelId) return;
    try {
      await kernel.interrupt();
      toast("Interrupt sent");
    } catch (error) {
      toast(error.message, "error");
    }
  },
  restart: () => restartKernel(),
  checkpoint: () => saveCheckpoint(),
  "restore-checkpoint": () => restoreCheckpoint(),
  "checkpoint-history": () => openCheckpointHistory(path, { save: async () => !nb.dirty || save(), reload: load }),
  shortcuts: () => dialog({ title: "Keyboard shortcuts", ok: "Close", cancel: false, message: shortcutTable() }),
  "clear-outputs": () => {
    for (const cell of nb.cells) if (cell.type === "code") { cell.clearOutputs(); cell.executionCount = null; cell.updatePrompt(); }
    markDirty();
  },
};

function wire() {
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      event.preventDefault();
      save();
      return;
    }
    onCommandKey(event);
  });
  for (const button of document.querySelectorAll("[data-command]")) {
    button.addEventListener("click", () => commands[button.dataset.command]());
  }
  const typeSelect = document.getElementById("cell-type");
  typeSelect.addEventListener("change", () => changeType(nb.cells[nb.selected], typeSelect.value));
  dropdown(document.getElementById("file-menu-button"), document.getElementById("file-menu"));
  document.getElementById("doc-name").addEventListener("click", renameNotebook);
  window.addEventListener("beforeunload", (event) => {
    if (nb.dirty) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
  window.addEventListener("focus", async () => {
    if (nb.conflict || nb.saving) return;
    const newer = await changedOnDisk();
    if (newer) {
      nb.conflict = true;
      showBanner(`“${basename(path)}” changed on disk at ${exactTime(newer.last_modified)}.`, "warning", [
        ["Reload it", () => location.reload()],
        ["Keep my version", () => { hideBanner(); save({ force: true }); }],
      ]);
    }
  });
  setInterval(() => { if (nb.dirty && !nb.conflict) save({ quiet: true }); }, AUTOSAVE_SECONDS * 1000);
}

// -- loading ------------------------------------------------------------------------------------

/** The notebook's contents model: the response the page's head asked for early, else a new request. */
async function fetchNotebook() {
  const early = window.nbserverNotebookResponse;
  delete window.nbserverNotebookResponse;
  let response = null;
  try {
    response = early ? await early : null;
  } catch (_) { /* a network error: ask again below, with the usual error reporting */ }
  return response ? readResponse(response) : contents.get(path, { type: "notebook" });
}

async function load() {
  const model = await fetchNotebook();
  const content = model.content;
  nb.metadata = content.metadata || {};
  nb.nbformatMinor = content.nbformat_minor || 5;
  nb.lastModified = model.last_modified;
  nb.cells = (content.cells || []).map((cellModel) => new Cell(cellModel));
  if (!nb.cells.length && !printView) nb.cells.push(new Cell({ cell_type: "code", source: "", metadata: {}, outputs: [] }));
  nb.selected = 0;
  renderAll();
  selectCellFromHash();
  nb.dirty = false;
  setSaveState(`Last saved ${exactTime(model.last_modified)}`);
  if (model.message) toast(model.message, "info", 8);
}

// #cell=<index> (where a search result points): select that cell and scroll to it.
function selectCellFromHash() {
  const match = /^#cell=(\d+)$/.exec(location.hash);
  const cell = match ? nb.cells[Number(match[1])] : null;
  if (!cell) return;
  select(cell);
  cell.node.scrollIntoView({ block: "center" });
}
window.addEventListener("hashchange", selectCellFromHash);

async function main() {
  if (!printView) wire();
  try {
    await load();
  } catch (error) {
    container.replaceChildren(el("div", { class: "placeholder", text: `Could not open this notebook: ${error.message}` }));
    if (error instanceof ApiError && error.status === 404) return;
    return;
  }
  if (printView) {
    document.getElementById("kernel-indicator").hidden = true;
    return;
  }
  await startKernel();
}

main();
