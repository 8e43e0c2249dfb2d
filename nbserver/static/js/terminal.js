// The terminal page: xterm.js (vendored) on the terminal's websocket, speaking terminado's JSON arrays.

import { Terminal } from "../vendor/xterm/xterm.mjs";
import { FitAddon } from "../vendor/xterm-addon-fit/addon-fit.mjs";
import { terminals, url } from "./api.js";
import { dialog, toast } from "./ui.js";

const name = document.body.dataset.terminalName;
const stateLabel = document.getElementById("terminal-state");
const RESIZE_DELAY_MS = 100; // coalesce the resize events of a window being dragged

const term = new Terminal({
  cursorBlink: true,
  fontFamily: getComputedStyle(document.body).getPropertyValue("--mono") || "monospace",
  fontSize: 14,
  scrollback: 5000,
  theme: { background: "#1f2933", foreground: "#e4e7eb", cursor: "#e4e7eb" },
});
const fit = new FitAddon();
term.loadAddon(fit);
term.open(document.getElementById("terminal"));

function showState(state, text) {
  stateLabel.dataset.state = state;
  stateLabel.textContent = text;
}

const socket = new WebSocket(terminals.socketUrl(name));

function send(message) {
  if (socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(message));
}

function sendSize() {
  send(["set_size", term.rows, term.cols, window.innerHeight, window.innerWidth]);
}

socket.addEventListener("open", () => {
  showState("connected", "connected");
  fit.fit();
  sendSize();
  term.focus();
});
socket.addEventListener("message", (event) => {
  const [type, data] = JSON.parse(event.data);
  if (type === "stdout") term.write(data);
  else if (type === "disconnect") {
    showState("ended", "ended");
    term.write("\r\n\x1b[2m[The terminal's shell has ended.]\x1b[0m\r\n");
  }
});
socket.addEventListener("close", () => {
  if (stateLabel.dataset.state !== "ended") showState("disconnected", "disconnected");
});

term.onData((data) => send(["stdin", data]));
term.onResize(() => sendSize());

let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => fit.fit(), RESIZE_DELAY_MS);
});

document.getElementById("shutdown-button").addEventListener("click", async () => {
  const ok = await dialog({ title: "Shut down", message: `Shut down terminal ${name}? Its programs are stopped.`,
    ok: "Shut down", danger: true });
  if (!ok) return;
  try {
    await terminals.shutdown(name);
    location.href = url("tree");
  } catch (error) {
    toast(error.message, "error", 6);
  }
});

document.title = `Terminal ${name} · nbserver`;
