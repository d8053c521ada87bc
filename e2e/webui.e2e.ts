/**
 * The browser test: an operator drives duo-sync from the Temporal Web UI in headless Chromium.
 * A real dev server with its UI, a worker, the Duo sandbox and the demo directory (e2e/stack.ts);
 * every sync here is started from the UI, and the Duo sandbox is checked afterwards.
 * Run with `npm run test:e2e` (not part of `npm test`). Screenshots of failures go to test-results/e2e/.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { connectionStatus } from '../src/client';
import type { DirectoryFile } from '../src/stores';
import { startStack, waitFor, type Stack } from './stack';
import { launchChromium, newPage, sendSignal, sendUpdate, startWorkflow, waitForRunStatus } from './ui';

const FAILURES_DIR = resolve(__dirname, '../test-results/e2e');
/** `npm run screenshots` sets this to docs/screenshots: the README's pictures are taken along the way. */
const SCREENSHOTS_DIR = process.env.DUO_SYNC_SCREENSHOTS ? resolve(process.env.DUO_SYNC_SCREENSHOTS) : undefined;

async function shot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS_DIR) return;
  mkdirSync(SCREENSHOTS_DIR, { recursive: true });
  await page.screenshot({ path: resolve(SCREENSHOTS_DIR, `${name}.png`) });
}

describe('Temporal Web UI (headless Chromium): operating duo-sync', function () {
  this.timeout(300_000);
  let stack: Stack;
  let browser: Browser;
  let page: Page;

  const addUser = (username: string): void => {
    const dir = JSON.parse(readFileSync(stack.demo.storePath, 'utf8')) as DirectoryFile;
    const [given, family] = username.split('.');
    dir.users = [...(dir.users ?? []), { username, email: `${username}@example.org`, givenName: given, familyName: family, enabled: true, groups: ['staff'] }];
    writeFileSync(stack.demo.storePath, JSON.stringify(dir, null, 2));
  };
  const inDuo = (username: string): boolean => stack.sandbox.store.findUserIdByName(username) !== undefined;

  before(async function () {
    this.timeout(600_000);
    stack = await startStack();
    browser = await launchChromium();
  });

  beforeEach(async () => {
    page = await newPage(browser);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') {
      mkdirSync(FAILURES_DIR, { recursive: true });
      const file = resolve(FAILURES_DIR, `${(this.currentTest.title ?? 'test').replace(/[^a-z0-9]+/gi, '-').slice(0, 80)}.png`);
      await page.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      console.error(`e2e: screenshot of the failure: ${file} (page ${page.url()})`);
    }
    await page.close();
  });

  after(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it('signal syncNow {} sent to connection/demo from its page runs a full sync that provisions a new user', async () => {
    const before = await connectionStatus(stack.dsc, stack.connectionId);
    const runsBefore = before.lastRuns.filter((r) => r.kind === 'fullSync').length;
    addUser('e2e.signal');
    assert.equal(inDuo('e2e.signal'), false);

    await sendSignal(page, stack.workflowUrl(`connection/${stack.connectionId}`), 'syncNow', '{}', (p) => shot(p, 'send-signal-syncNow'));

    const run = await waitFor('the full sync the signal queued', async () => {
      const s = await connectionStatus(stack.dsc, stack.connectionId);
      const runs = s.lastRuns.filter((r) => r.kind === 'fullSync');
      return runs.length > runsBefore ? runs[runs.length - 1] : undefined;
    });
    await waitForRunStatus(page, stack.workflowUrl(run.workflowId), 'Completed');
    assert.equal(inDuo('e2e.signal'), true, 'the user added to the directory is in Duo');
    await shot(page, 'full-sync-completed');
  });

  it('Start Workflow form: fullSyncWorkflow with {"connectionId":"demo"} completes and provisions a new user', async () => {
    addUser('e2e.form');
    const workflowId = `full-sync/${stack.connectionId}/by-hand-${Date.now().toString(36)}`;
    await startWorkflow(
      page,
      stack.namespaceUrl,
      { workflowId, taskQueue: 'duo-sync', workflowType: 'fullSyncWorkflow', json: JSON.stringify({ connectionId: stack.connectionId }) },
      (p) => shot(p, 'start-workflow-fullSync'),
    );

    await waitForRunStatus(page, stack.workflowUrl(workflowId), 'Completed');
    assert.equal(inDuo('e2e.form'), true);
    const result = (await stack.dsc.client.workflow.getHandle(workflowId).result()) as { outcome: string; summary: { created: number } };
    assert.deepEqual([result.outcome, result.summary.created], ['succeeded', 1]);
  });

  it('update syncUser {"username":…} sent from the UI reconciles that one user', async () => {
    addUser('e2e.update');
    await sendUpdate(page, stack.workflowUrl(`connection/${stack.connectionId}`), 'syncUser', JSON.stringify({ username: 'e2e.update' }), (p) => shot(p, 'send-update-syncUser'));
    await waitFor('the user in Duo', async () => (inDuo('e2e.update') ? true : undefined), 60_000);
    const reconcile = await waitFor('the reconcile run', async () => {
      for await (const wf of stack.dsc.client.workflow.list({ query: `DuoSyncConnection="${stack.connectionId}" AND DuoSyncKind="reconcileUser"` })) return wf.workflowId;
      return undefined;
    });
    await waitForRunStatus(page, stack.workflowUrl(reconcile), 'Completed');
  });

  it('runs are found by search attribute, and the entity page says what it is doing', async () => {
    const query = `DuoSyncConnection="${stack.connectionId}" AND DuoSyncKind="fullSync"`;
    await page.goto(stack.listUrl(query));
    // The signal's run, the form's run and the initial run: all full syncs of demo, no reconciles.
    await page.getByRole('link', { name: `full-sync/${stack.connectionId}/1`, exact: true }).waitFor({ state: 'visible' });
    await page.getByRole('link', { name: /by-hand/ }).waitFor({ state: 'visible' });
    assert.equal(await page.getByRole('link', { name: /^reconcile\// }).count(), 0);
    await shot(page, 'search-by-attributes');

    await page.goto(stack.workflowUrl(`connection/${stack.connectionId}`));
    await page.getByRole('tab', { name: 'User Metadata' }).click();
    // The UI renders summaries and details (markdown) in sandboxed iframes: read every frame's text.
    await waitFor('the summary and current details', async () => {
      const texts = await Promise.all(page.frames().map((f) => f.locator('body').innerText().catch(() => '')));
      const all = texts.join('\n');
      return all.includes(`duo-sync connection ${stack.connectionId}`) && all.includes('connection test passed') ? true : undefined;
    }, 30_000);
    await shot(page, 'connection-user-metadata');
  });
});
