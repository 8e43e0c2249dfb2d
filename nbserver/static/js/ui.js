// Small page helpers shared by the pages: element building, toasts, dialogs, menus, dates, sizes.

/** Build an element; text goes through textContent, so names are never parsed as HTML. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function toast(message, kind = "info", seconds = 4, action = null) {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = el("div", { class: `toast ${kind}`, text: message });
  if (action) {
    // A button in the toast (e.g. Undo): runs once, then the toast goes.
    const button = el("button", { type: "button", class: "toast-action", text: action.label });
    button.addEventListener("click", () => { item.remove(); action.run(); }, { once: true });
    item.append(" ", button);
  }
  box.append(item);
  while (box.children.length > 3) box.firstChild.remove();
  setTimeout(() => item.remove(), seconds * 1000);
}

/** A modal dialog: resolves to the typed text (prompt), true (confirm) or null when cancelled. */
export function dialog({ title, message = "", input = null, ok = "OK", danger = false, cancel = true }) {
  const box = document.getElementById("dialog");
  const field = document.getElementById("dialog-input");
  const okButton = document.getElementById("dialog-ok");
  document.getElementById("dialog-title").textContent = title;
  const messageBox = document.getElementById("dialog-message");
  if (message instanceof Node) messageBox.replaceChildren(message);
  else messageBox.textContent = message;
  field.hidden = input === null;
  field.value = input ?? "";
  okButton.textContent = ok;
  okButton.classList.toggle("danger", danger);
  document.getElementById("dialog-cancel").hidden = !cancel;
  return new Promise((resolve) => {
    const form = document.getElementById("dialog-form");
    const cancel = document.getElementById("dialog-cancel");
    const done = (value) => {
      form.removeEventListener("submit", onSubmit);
      cancel.removeEventListener("click", onCancel);
      box.removeEventListener("cancel", onCancel);
      if (box.open) box.close();
      resolve(value);
    };
    const onSubmit = (event) => {
      event.preventDefault();
      done(input === null ? true : field.value);
    };
    const onCancel = (event) => {
      event.preventDefault();
      done(null);
    };
    form.addEventListener("submit", onSubmit);
    cancel.addEventListener("click", onCancel);
    box.addEventListener("cancel", onCancel);
    box.showModal();
    if (input !== null) {
      field.focus();
      const dot = field.value.lastIndexOf(".");
      field.setSelectionRange(0, dot > 0 ? dot : field.value.length);
    } else {
      okButton.focus();
    }
  });
}

/** Wire a button to toggle a dropdown menu; clicking elsewhere closes it. */
export function dropdown(button, menu) {
  const close = () => {
    menu.hidden = true;
    button.setAttribute("aria-expanded", "false");
  };
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    const opening = menu.hidden;
    document.querySelectorAll(".menu").forEach((other) => { other.hidden = true; });
    menu.hidden = !opening;
    button.setAttribute("aria-expanded", String(opening));
  });
  document.addEventListener("click", (event) => {
    if (!menu.contains(event.target) || event.target.closest(".menu-item")) close();
  });
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") close(); });
  return close;
}

const units = [["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400],
  ["hour", 3600], ["minute", 60], ["second", 1]];
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });

/** "3 minutes ago" for an ISO timestamp. */
export function timeAgo(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  if (Math.abs(seconds) < 10) return "just now";
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size) return relative.format(Math.round(seconds / size), unit);
  }
  return "just now";
}

export function exactTime(iso) {
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export function humanSize(bytes) {
  if (bytes === null || bytes === undefined) return "";
  if (bytes < 1024) return `${bytes} B`;
  const names = ["KB", "MB", "GB", "TB"];
  let value = bytes;
  let index = -1;
  do {
    value /= 1024;
    index += 1;
  } while (value >= 1024 && index < names.length - 1);
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${names[index]}`;
}
