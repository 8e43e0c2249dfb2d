// A kernel for a notebook page: started through /api/sessions (or /api/kernels where sessions are
// not served), talked to over the channels websocket in the JSON framing of the Jupyter protocol.

import { ApiError, basename, kernels, sessions } from "./api.js";

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class KernelConnection {
  /**
   * onStatus(state) hears "starting", "idle", "busy", "restarting", "dead", "disconnected";
   * onMessage(msg) hears every message whose parent is a request we sent.
   */
  constructor({ onStatus, onMessage }) {
    this.onStatus = onStatus;
    this.onMessage = onMessage;
    this.clientSession = newId();
    this.kernelId = null;
    this.sessionId = null;
    this.kernelName = null;
    this.socket = null;
    this.queue = [];
    this.handlers = new Map(); // msg_id -> callback
    this.reconnectAttempts = 0;
    this.closing = false;
    this.state = "disconnected";
  }

  setState(state) {
    this.state = state;
    this.onStatus(state);
  }

  /** Start (or find) the notebook's kernel: a session when the server has them, else a bare kernel. */
  async start(path, kernelName) {
    this.setState("starting");
    let kernel;
    try {
      const session = await sessions.create({ path, name: basename(path), type: "notebook", kernel: kernelName ? { name: kernelName } : {} });
      this.sessionId = session.id;
      kernel = session.kernel;
    } catch (error) {
      if (!(error instanceof ApiError && (error.status === 404 || error.status === 405))) throw error;
      kernel = await kernels.start(kernelName);
    }
    this.kernelId = kernel.id;
    this.kernelName = kernel.name;
    this.connect();
    return kernel;
  }

  connect() {
    const socket = new WebSocket(kernels.channelsUrl(this.kernelId, this.clientSession));
    this.socket = socket;
    socket.onopen = () => {
      this.reconnectAttempts = 0;
      const pending = this.queue;
      this.queue = [];
      for (const message of pending) socket.send(JSON.stringify(message));
      this.request("shell", "kernel_info_request", {}).then((reply) => {
        this.info = reply.content;
        if (this.state === "starting" || this.state === "disconnected") this.setState("idle");
      });
    };
    socket.onmessage = (event) => {
      if (typeof event.data !== "string") return; // binary frames are not asked for
      const message = JSON.parse(event.data);
      if (message.channel === "iopub" && message.msg_type === "status") {
        const state = message.content.execution_state;
        if (state !== "starting" || this.state !== "idle") this.setState(state);
      }
      const parentId = message.parent_header && message.parent_header.msg_id;
      const handler = parentId && this.handlers.get(parentId);
      if (handler) handler(message);
      else if (parentId) this.onMessage(message);
    };
    socket.onclose = () => {
      if (this.socket !== socket || this.closing) return;
      this.setState("disconnected");
      this.reconnect();
    };
  }

  async reconnect() {
    this.reconnectAttempts += 1;
    if (this.reconnectAttempts > 6) return;
    await new Promise((resolve) => setTimeout(resolve, 500 * 2 ** this.reconnectAttempts));
    try {
      await kernels.get(this.kernelId);
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        this.setState("dead");
        return;
      }
    }
    this.connect();
  }

  /** Send a message; returns its msg_id. Queued while the socket opens. */
  send(channel, msgType, content, parentHeader = {}) {
    const message = {
      header: { msg_id: newId(), msg_type: msgType, username: "", session: this.clientSession,
        date: new Date().toISOString(), version: "5.3" },
      parent_header: parentHeader, metadata: {}, content, channel, buffers: [],
    };
    if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(message));
    else this.queue.push(message);
    return message.header.msg_id;
  }

  /** Send a request and resolve with its reply on the same channel. */
  request(channel, msgType, content) {
    return new Promise((resolve) => {
      const id = this.send(channel, msgType, content);
      this.handlers.set(id, (message) => {
        if (message.channel === channel && message.msg_type.endsWith("_reply")) {
          this.handlers.delete(id);
          resolve(message);
        }
      });
    });
  }

  /** Run code; ``onOutput`` hears the iopub messages and the execute_reply. */
  execute(code, onMessage) {
    const id = this.send("shell", "execute_request", {
      code, silent: false, store_history: true, user_expressions: {}, allow_stdin: true, stop_on_error: true,
    });
    // Shell and iopub are separate streams: the reply may come before the last outputs, so the
    // request is done only when both its reply and its iopub "idle" have arrived.
    let replied = false;
    let idle = false;
    this.handlers.set(id, (message) => {
      onMessage(message);
      if (message.channel === "shell" && message.msg_type === "execute_reply") replied = true;
      if (message.channel === "iopub" && message.msg_type === "status" && message.content.execution_state === "idle") idle = true;
      if (replied && idle) this.handlers.delete(id);
    });
    return id;
  }

  /** Answer the kernel's input_request (Python's input()) with what the person typed. */
  inputReply(value, requestHeader) {
    this.send("stdin", "input_reply", { value }, requestHeader);
  }

  async interrupt() {
    await kernels.interrupt(this.kernelId);
  }

  async restart() {
    this.setState("restarting");
    await kernels.restart(this.kernelId);
    // The server answers once the new kernel is ready; its own status messages may have gone
    // to the server's readiness check rather than to us.
    if (this.socket && this.socket.readyState !== WebSocket.OPEN) this.connect();
    else if (this.state === "restarting" || this.state === "starting") this.setState("idle");
  }

  /** Pending executions end with the restart: forget their callbacks. */
  forgetPending() {
    this.handlers.clear();
    this.queue = [];
  }

  close() {
    this.closing = true;
    if (this.socket) this.socket.close();
  }
}
