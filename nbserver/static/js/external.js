// "From URL" on the dashboard: show a notebook from another server (GET /api/external, rendered
// by the server, sandboxed) and offer to save a copy of it here (POST /api/files/import).

import { request, url } from "./api.js";
import { dialog, toast } from "./ui.js";

// What the shown page may load: inline styles, images inline or over https; nothing else.
const FRAME_POLICY = "default-src 'none'; img-src data: https:; style-src 'unsafe-inline' https:; font-src data: https:";

/** The rendered page, fenced: the iframe's sandbox (no scripts, opaque origin) plus a CSP of its own. */
function framed(html) {
  const meta = `<meta http-equiv="Content-Security-Policy" content="${FRAME_POLICY}">`;
  return /<head[^>]*>/i.test(html) ? html.replace(/<head[^>]*>/i, (head) => head + meta) : meta + html;
}

async function show(source, folder, onSaved) {
  const viewer = document.getElementById("external-viewer");
  const frame = document.getElementById("external-frame");
  let html;
  try {
    html = await request("GET", url("api/external") + "?source=" + encodeURIComponent(source));
  } catch (error) {
    await dialog({ title: "Cannot open this notebook", message: error.message, cancel: false });
    return;
  }
  document.getElementById("external-source").textContent = source;
  frame.srcdoc = framed(html);
  const save = document.getElementById("external-save");
  const close = document.getElementById("external-close");
  const onSave = async () => {
    save.disabled = true;
    try {
      const file = await request("POST", url("api/files/import"), { source, parent_path: folder(), on_conflict: "rename" });
      toast(`Saved a copy as ${file.path}`);
      viewer.close();
      onSaved(file);
    } catch (error) {
      toast(`Could not save a copy: ${error.message}`, "error", 8);
    } finally {
      save.disabled = false;
    }
  };
  const onClose = () => viewer.close();
  save.addEventListener("click", onSave);
  close.addEventListener("click", onClose);
  viewer.addEventListener("close", () => {
    save.removeEventListener("click", onSave);
    close.removeEventListener("click", onClose);
    frame.srcdoc = "";
  }, { once: true });
  viewer.showModal();
}

/** Wire the "From URL" button: ``folder()`` is where a copy goes, ``onSaved(file)`` runs after saving. */
export function wireExternal(folder, onSaved) {
  const button = document.getElementById("external-button");
  if (!button) return;
  button.addEventListener("click", async () => {
    const source = await dialog({ title: "Open notebook from URL", message: "The http(s) URL of a .ipynb file:",
                                  input: "https://", ok: "Open" });
    if (source && source.trim()) await show(source.trim(), folder, onSaved);
  });
}
