// Drives a running nbserver with JupyterLab's own client library, @jupyterlab/services, as
// JupyterLab does: contents, checkpoints, sessions, kernels over the websocket.
// Usage: NB_URL=http://127.0.0.1:PORT/ NB_TOKEN=... node jupyterlab_services_client.mjs
import assert from 'node:assert/strict';
import { ContentsManager, KernelManager, SessionManager } from '@jupyterlab/services';
import { results, serverSettings, step, timeLimit } from './client_setup.mjs';

timeLimit(150);

// Run code on a kernel; resolve with the reply and everything printed to stdout/stderr.
async function execute(kernel, code) {
  let output = '';
  const future = kernel.requestExecute({ code });
  future.onIOPub = msg => {
    if (msg.header.msg_type === 'stream') {
      output += msg.content.text;
    }
  };
  const reply = await future.done;
  return { reply, output };
}

const notebook = {
  nbformat: 4,
  nbformat_minor: 5,
  metadata: { kernelspec: { name: 'python3', display_name: 'Python 3', language: 'python' } },
  cells: [
    { cell_type: 'code', id: 'first', source: 'print(6 * 7)', metadata: {}, outputs: [], execution_count: null }
  ]
};

const contents = new ContentsManager({ serverSettings });
const kernelManager = new KernelManager({ serverSettings });
const sessionManager = new SessionManager({ serverSettings, kernelManager });
let session;
let path;

try {
  await step('list the root folder', async () => {
    const root = await contents.get('');
    assert.equal(root.type, 'directory');
    assert.ok(Array.isArray(root.content));
  });

  await step('create and save a notebook', async () => {
    const created = await contents.newUntitled({ type: 'notebook' });
    assert.equal(created.path, 'Untitled.ipynb');
    const saved = await contents.save(created.path, { type: 'notebook', format: 'json', content: notebook });
    assert.equal(saved.type, 'notebook');
    assert.ok(saved.last_modified);
    const model = await contents.get(created.path);
    assert.equal(model.content.cells[0].source, 'print(6 * 7)');
    path = created.path;
  });

  await step('rename the notebook', async () => {
    const renamed = await contents.rename(path, 'client-test.ipynb');
    assert.equal(renamed.path, 'client-test.ipynb');
    path = renamed.path;
    const listing = await contents.get('');
    assert.deepEqual(listing.content.map(item => item.name), ['client-test.ipynb']);
  });

  await step('create and restore a checkpoint', async () => {
    const checkpoint = await contents.createCheckpoint(path);
    assert.ok(checkpoint.id);
    const changed = structuredClone(notebook);
    changed.cells[0].source = 'changed';
    await contents.save(path, { type: 'notebook', format: 'json', content: changed });
    assert.equal((await contents.get(path)).content.cells[0].source, 'changed');
    await contents.restoreCheckpoint(path, checkpoint.id);
    assert.equal((await contents.get(path)).content.cells[0].source, 'print(6 * 7)');
    const checkpoints = await contents.listCheckpoints(path);
    assert.deepEqual(checkpoints.map(c => c.id), [checkpoint.id]);
  });

  await step('start a session with a python3 kernel', async () => {
    await sessionManager.ready;
    session = await sessionManager.startNew({ path, type: 'notebook', name: path, kernel: { name: 'python3' } });
    assert.equal(session.path, path);
    assert.equal(session.kernel.name, 'python3');
    const info = await session.kernel.info;
    assert.equal(info.language_info.name, 'python');
  });

  await step('execute code and read its output', async () => {
    const { reply, output } = await execute(session.kernel, 'x = 1\nprint(6 * 7)');
    assert.equal(reply.content.status, 'ok');
    assert.equal(output, '42\n');
  });

  await step('get an error reply', async () => {
    const { reply } = await execute(session.kernel, '1 / 0');
    assert.equal(reply.content.status, 'error');
    assert.equal(reply.content.ename, 'ZeroDivisionError');
    assert.ok(reply.content.traceback.length > 0);
  });

  await step('interrupt a sleeping cell', async () => {
    const running = execute(session.kernel, 'import time\ntime.sleep(60)');
    await new Promise(resolve => setTimeout(resolve, 1000));
    const interruptedAt = Date.now();
    await session.kernel.interrupt();
    const { reply } = await running;
    assert.equal(reply.content.status, 'error');
    assert.equal(reply.content.ename, 'KeyboardInterrupt');
    assert.ok(Date.now() - interruptedAt < 5000, 'the interrupt took too long');
  });

  await step('restart the kernel, which clears its state', async () => {
    const kernelId = session.kernel.id;
    await session.kernel.restart();
    assert.equal(session.kernel.id, kernelId);
    const { reply, output } = await execute(session.kernel, "print('x' in globals())");
    assert.equal(reply.content.status, 'ok');
    assert.equal(output, 'False\n');
  });

  await step("change the session's kernel", async () => {
    const oldId = session.kernel.id;
    await session.changeKernel({ name: 'python3' });
    assert.notEqual(session.kernel.id, oldId);
    const { output } = await execute(session.kernel, 'print(2 + 2)');
    assert.equal(output, '4\n');
    await kernelManager.refreshRunning();
    const running = Array.from(kernelManager.running()).map(k => k.id);
    assert.deepEqual(running, [session.kernel.id]);
  });

  await step('shut the session down', async () => {
    await session.shutdown();
    await sessionManager.refreshRunning();
    assert.deepEqual(Array.from(sessionManager.running()), []);
    await kernelManager.refreshRunning();
    assert.deepEqual(Array.from(kernelManager.running()), []);
  });

  console.log(`${results.passed} passed, 0 failed`);
} catch (error) {
  console.error(`FAILED after ${results.passed} steps:`, error);
  process.exitCode = 1;
} finally {
  sessionManager.dispose();
  kernelManager.dispose();
  contents.dispose();
  setTimeout(() => process.exit(process.exitCode ?? 0), 100);
}
