// The code editor of nbserver's pages: CodeMirror 6 set up once, for notebook cells and /edit.
// Built into nbserver/static/dist/editor.js (see frontend/build.mjs); the pages import it as a module.

import { autocompletion, closeBrackets, closeBracketsKeymap, closeCompletion,
  completionStatus, startCompletion } from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentLess, indentMore, toggleComment } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { python } from "@codemirror/lang-python";
import { bracketMatching, defaultHighlightStyle, indentOnInput, indentUnit, StreamLanguage,
  syntaxHighlighting } from "@codemirror/language";
import { javascript } from "@codemirror/legacy-modes/mode/javascript";
import { julia } from "@codemirror/legacy-modes/mode/julia";
import { r } from "@codemirror/legacy-modes/mode/r";
import { shell } from "@codemirror/legacy-modes/mode/shell";
import { highlightSelectionMatches, search, searchKeymap } from "@codemirror/search";
import { Compartment, EditorSelection, EditorState, Prec, StateEffect, StateField } from "@codemirror/state";
import { crosshairCursor, drawSelection, EditorView, highlightActiveLine, highlightSpecialChars, keymap,
  lineNumbers, placeholder, rectangularSelection, showTooltip } from "@codemirror/view";

export { closeCompletion, completionStatus, EditorSelection, EditorView, indentLess, indentMore, startCompletion,
  toggleComment };

// Languages by the names kernels give (language_info.codemirror_mode / name, kernelspec.language)
// and by file extension for /edit. Others edit as plain text.
const LANGUAGES = {
  python: () => python(),
  ipython: () => python(),
  // lang-markdown brings HTML, CSS and JavaScript parsers along: a chunk of its own, loaded when first used.
  markdown: () => import("@codemirror/lang-markdown").then((module) => module.markdown()),
  json: () => json(),
  julia: () => StreamLanguage.define(julia),
  r: () => StreamLanguage.define(r),
  shell: () => StreamLanguage.define(shell),
  bash: () => StreamLanguage.define(shell),
  sh: () => StreamLanguage.define(shell),
  javascript: () => StreamLanguage.define(javascript),
};
const EXTENSIONS = { py: "python", md: "markdown", markdown: "markdown", json: "json", ipynb: "json", jl: "julia",
  r: "r", sh: "shell", bash: "shell", js: "javascript", mjs: "javascript" };

/** The language extension for a kernel's language name (case-insensitive), [] when unknown, or a
 *  promise of it for languages loaded on demand. */
export function languageFor(name) {
  const make = LANGUAGES[String(name || "").toLowerCase()];
  return make ? make() : [];
}

/** The language name for a file name, by its extension; "" when unknown. */
export function languageOfFile(fileName) {
  const dot = fileName.lastIndexOf(".");
  return dot < 0 ? "" : EXTENSIONS[fileName.slice(dot + 1).toLowerCase()] || "";
}

// -- a tooltip the page fills (Shift+Tab's inspect_request reply) ---------------------------------

const setInfo = StateEffect.define();
const infoField = StateField.define({
  create: () => null,
  update(value, transaction) {
    for (const effect of transaction.effects) if (effect.is(setInfo)) return effect.value;
    return transaction.docChanged || transaction.selection ? null : value;
  },
  provide: (field) => showTooltip.from(field),
});

/** Show ``node`` in a tooltip under position ``pos``; ``node`` null hides it. */
export function showInfo(view, pos, node) {
  const tooltip = node ? { pos, above: false, create: () => ({ dom: node }) } : null;
  view.dispatch({ effects: setInfo.of(tooltip) });
}

/** Whether the info tooltip is showing. */
export function infoShowing(view) {
  return view.state.field(infoField, false) !== null;
}

/** Whether Tab should indent here: text is selected, or only whitespace stands before the cursor. */
export function indentsHere(view) {
  const { state } = view;
  if (state.selection.ranges.some((range) => !range.empty)) return true;
  const head = state.selection.main.head;
  const line = state.doc.lineAt(head);
  return /^\s*$/.test(line.text.slice(0, head - line.from));
}

/** Tab in a text: indent the lines where indentsHere, else insert one indent unit at the cursor. */
export function indentOrInsert(view) {
  if (indentsHere(view)) return indentMore(view);
  view.dispatch(view.state.replaceSelection(view.state.facet(indentUnit)), { userEvent: "input" });
  return true;
}

/** Tab and Shift+Tab for plain text editing. */
export const tabKeys = [{ key: "Tab", run: indentOrInsert }, { key: "Shift-Tab", run: indentLess }];

const languageSlot = new Compartment();
const editableSlot = new Compartment();

/**
 * A CodeMirror editor in ``parent``.
 *
 * options: doc (string), language (a name for languageFor), readOnly, lineNumbers (bool),
 * keys (CodeMirror key bindings that win over the editor's own, e.g. Shift-Enter),
 * fallbackKeys (bindings tried after completion and bracket keys, before the defaults: Escape, Tab),
 * completions (an autocomplete source, used only when asked with startCompletion),
 * onChange(view), onFocus(view), label (aria-label), placeholder.
 */
export function createEditor(parent, options = {}) {
  const extensions = [
    Prec.highest(keymap.of(options.keys || [])),
    history(),
    drawSelection(),
    highlightSpecialChars(),
    EditorState.allowMultipleSelections.of(true),
    rectangularSelection(),
    crosshairCursor(),
    indentOnInput(),
    indentUnit.of("    "),
    EditorState.tabSize.of(4),
    bracketMatching(),
    closeBrackets(),
    highlightSelectionMatches(),
    search({ top: true }),
    syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    autocompletion({ override: options.completions ? [options.completions] : [], activateOnTyping: false,
      defaultKeymap: true }), // its keys (Enter, arrows, Escape while open) sit above the fallback keys
    infoField,
    keymap.of([
      ...(options.fallbackKeys || []),
      ...closeBracketsKeymap,
      ...defaultKeymap,
      ...searchKeymap,
      ...historyKeymap,
    ]),
    languageSlot.of([]),
    editableSlot.of([EditorState.readOnly.of(Boolean(options.readOnly)), EditorView.editable.of(!options.readOnly)]),
    EditorView.contentAttributes.of({ "aria-label": options.label || "Source", spellcheck: "false" }),
  ];
  if (options.lineNumbers) extensions.push(lineNumbers(), highlightActiveLine());
  if (options.placeholder) extensions.push(placeholder(options.placeholder));
  if (options.onChange) {
    extensions.push(EditorView.updateListener.of((update) => { if (update.docChanged) options.onChange(update.view); }));
  }
  if (options.onFocus) {
    extensions.push(EditorView.focusChangeEffect.of((state, focusing) => {
      if (focusing) queueMicrotask(() => options.onFocus());
      return null;
    }));
  }
  const view = new EditorView({ parent, state: EditorState.create({ doc: options.doc || "", extensions }) });
  setLanguage(view, options.language);
  return view;
}

/** Switch the editor's language (a name for languageFor); a language loaded on demand applies when it arrives. */
export function setLanguage(view, name) {
  const wanted = String(name || "").toLowerCase();
  view.languageName = wanted;
  const language = languageFor(wanted);
  if (language instanceof Promise) {
    language.then((extension) => {
      if (view.languageName === wanted) view.dispatch({ effects: languageSlot.reconfigure(extension) });
    });
  } else {
    view.dispatch({ effects: languageSlot.reconfigure(language) });
  }
}

/** Make the editor read-only or editable. */
export function setReadOnly(view, readOnly) {
  view.dispatch({ effects: editableSlot.reconfigure([EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)]) });
}

/** Replace the whole text (not an undoable edit of the person's: used when loading). */
export function setText(view, text) {
  view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
}
