/**
 * Driving the Temporal Web UI (2.42) the way an operator does, with playwright-core and Debian's
 * Chromium: open a workflow's page, send a signal or an update from "More Actions", start a
 * workflow from the "Start a Workflow" form, wait for a run's status. Selectors are roles, labels
 * and visible text; the UI's JSON editor is filled with insertText so its bracket auto-closing
 * cannot double a brace.
 */
import { chromium, type Browser, type Page } from 'playwright-core';

/** The UI's JSON editor: the one editable textbox that is not an <input>. */
const JSON_EDITOR = '[role="textbox"][contenteditable="true"]';

export const CHROMIUM = process.env.DUO_SYNC_CHROMIUM ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Root in a container needs --no-sandbox; the rest keeps Chromium off the (closed) network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function newPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.setDefaultTimeout(30_000);
  return page;
}

async function fillJson(page: Page, editor: ReturnType<Page['locator']>, json: string): Promise<void> {
  await editor.click();
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(json);
  // The form reads the editor's value on blur; submitting before that sends the old value.
  await page.keyboard.press('Tab');
}

/** Called with the filled form before it is submitted (the README screenshots are taken here). */
export type BeforeSubmit = (page: Page) => Promise<void>;

async function openAction(page: Page, workflowUrl: string, item: 'Send a Signal' | 'Send an Update'): Promise<ReturnType<Page['getByRole']>> {
  await page.goto(workflowUrl);
  await page.getByRole('button', { name: 'More Actions' }).click();
  await page.getByRole('menuitem', { name: item }).click();
  const dialog = page.getByRole('dialog').filter({ hasText: item });
  await dialog.waitFor({ state: 'visible' });
  return dialog;
}

/** The name pickers list the handlers the worker reports for this workflow (so a worker must be running). */
async function choose(dialog: ReturnType<Page['getByRole']>, selectId: string, name: string): Promise<void> {
  await dialog.getByTestId(`${selectId}-button`).click();
  await dialog.locator(`#${selectId}-select`).getByRole('option', { name, exact: true }).click();
}

/** More Actions → Send a Signal on the workflow's page. */
export async function sendSignal(page: Page, workflowUrl: string, signal: string, json: string, beforeSubmit?: BeforeSubmit): Promise<void> {
  const dialog = await openAction(page, workflowUrl, 'Send a Signal');
  await choose(dialog, 'signal-select', signal);
  await fillJson(page, dialog.locator(JSON_EDITOR), json);
  await beforeSubmit?.(page);
  await dialog.getByRole('button', { name: 'Submit' }).click();
  await dialog.waitFor({ state: 'hidden' });
}

/** More Actions → Send an Update on the workflow's page. */
export async function sendUpdate(page: Page, workflowUrl: string, update: string, json: string, beforeSubmit?: BeforeSubmit): Promise<void> {
  const dialog = await openAction(page, workflowUrl, 'Send an Update');
  await choose(dialog, 'update-select', update);
  await fillJson(page, dialog.locator(JSON_EDITOR), json);
  await beforeSubmit?.(page);
  await dialog.getByRole('button', { name: 'Submit' }).click();
  await dialog.waitFor({ state: 'hidden' });
}

/** Workflows (the list) → Start Workflow: fills the form and starts the run. */
export async function startWorkflow(
  page: Page,
  namespaceUrl: string,
  form: { workflowId: string; taskQueue: string; workflowType: string; json: string },
  beforeSubmit?: BeforeSubmit,
): Promise<void> {
  await page.goto(`${namespaceUrl}/workflows/start-workflow`);
  await page.getByLabel('Workflow ID').fill(form.workflowId);
  await page.getByLabel('Task Queue').fill(form.taskQueue);
  await page.getByLabel('Workflow Type').fill(form.workflowType);
  await fillJson(page, page.locator(JSON_EDITOR), form.json);
  await beforeSubmit?.(page);
  await page.getByRole('button', { name: 'Start Workflow' }).click();
  await page.getByText('Workflow started successfully').waitFor({ state: 'visible' });
}

/** Reloads the workflow's page until its status badge reads `status` (the page does not always poll). */
export async function waitForRunStatus(page: Page, workflowUrl: string, status: 'Completed' | 'Failed' | 'Running', timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.goto(workflowUrl);
    const badge = page.getByText(status, { exact: true }).first();
    try {
      await badge.waitFor({ state: 'visible', timeout: 5_000 });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${workflowUrl} did not show ${status} within ${timeoutMs} ms`);
    }
  }
}
