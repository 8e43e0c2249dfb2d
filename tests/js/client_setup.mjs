// What the client scripts share: @jupyterlab/services settings for the server in NB_URL/NB_TOKEN,
// numbered steps, and a time limit.
import WebSocket from 'ws';
import { ServerConnection } from '@jupyterlab/services';

export const baseUrl = process.env.NB_URL;
export const token = process.env.NB_TOKEN;
export const serverSettings = ServerConnection.makeSettings({
  baseUrl,
  wsUrl: baseUrl.replace(/^http/, 'ws'),
  token,
  appendToken: true,
  WebSocket,
  fetch,
  Request,
  Headers
});

/** Exit with a failure if the script has not finished within `seconds`. */
export function timeLimit(seconds) {
  setTimeout(() => {
    console.error(`FAILED: the client test did not finish within ${seconds} s`);
    process.exit(1);
  }, seconds * 1000).unref();
}

/** How many steps passed so far. */
export const results = { passed: 0 };

/** Run one named step and print `ok N - name (ms)` once it passed. */
export async function step(name, body) {
  const started = Date.now();
  await body();
  results.passed += 1;
  console.log(`ok ${results.passed} - ${name} (${Date.now() - started} ms)`);
}
