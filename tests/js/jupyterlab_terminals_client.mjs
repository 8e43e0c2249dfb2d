// Drives nbserver's terminals with JupyterLab's own client library, @jupyterlab/services, as
// JupyterLab's terminal panel does: start one in a folder, talk to it over the websocket, shut it down.
// Usage: NB_URL=http://127.0.0.1:PORT/ NB_TOKEN=... node jupyterlab_terminals_client.mjs
import assert from 'node:assert/strict';
import { PageConfig } from '@jupyterlab/coreutils'; // installed with @jupyterlab/services
import { TerminalManager } from '@jupyterlab/services';
import { baseUrl, results, serverSettings, step, timeLimit, token } from './client_setup.mjs';

// JupyterLab's page tells its client that the server has terminals; a script says it itself.
PageConfig.setOption('terminalsAvailable', 'true');
timeLimit(60);

// Resolve with everything the terminal printed once `pattern` appears in it.
function outputUntil(connection, pattern) {
  let output = '';
  return new Promise(resolve => {
    const listener = (_, message) => {
      if (message.type === 'stdout') {
        output += message.content[0];
        if (pattern.test(output)) {
          connection.messageReceived.disconnect(listener);
          resolve(output);
        }
      }
    };
    connection.messageReceived.connect(listener);
  });
}

const manager = new TerminalManager({ serverSettings });
let connection;

await step('start a terminal in a folder and connect to it', async () => {
  connection = await manager.startNew({ cwd: 'sub' });
  assert.equal(connection.name, '1');
  await new Promise((resolve, reject) => {
    if (connection.connectionStatus === 'connected') return resolve();
    connection.connectionStatusChanged.connect((_, status) => {
      if (status === 'connected') resolve();
      if (status === 'disconnected') reject(new Error('disconnected'));
    });
  });
});

await step('stdin in, stdout out, in the folder asked for', async () => {
  const done = outputUntil(connection, /nb-42\r\n/);
  connection.send({ type: 'stdin', content: ['pwd; echo nb-$((6*7))\r'] });
  const output = await done;
  assert.match(output, /\/sub\r\n/);
});

await step('set_size as JupyterLab sends it (rows, cols, height, width)', async () => {
  connection.send({ type: 'set_size', content: [31, 101, 600, 900] });
  const done = outputUntil(connection, /31 101\r\n/);
  connection.send({ type: 'stdin', content: ['stty size\r'] });
  await done;
});

await step('listed, then shut down', async () => {
  const running = await (await fetch(`${baseUrl}api/terminals?token=${token}`)).json();
  assert.deepEqual(running.map(model => model.name), ['1']);
  await manager.shutdown('1');
  const after = await (await fetch(`${baseUrl}api/terminals?token=${token}`)).json();
  assert.deepEqual(after, []);
});

manager.dispose();
console.log(`${results.passed} passed, 0 failed`);
process.exit(0);
