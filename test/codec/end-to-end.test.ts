import assert from 'node:assert/strict';
import { Client, WorkflowFailedError } from '@temporalio/client';
import type { DataConverter } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { dataConverterFromConfig } from '../../src/codec/config';
import { loadProcessConfig } from '../../src/config/env';
import { healthCheckWorkflow } from '../../src/workflows';
import { configureEntityOn } from '../support/runs';
import { connectionWorkflowId, type FullSyncResult } from '../../src/contract';
import { makeSyncFixture, makeUsers, type SyncFixture } from '../support/sync-fixture';
import { testTemporal, uniqueId, withWorker } from '../support/temporal';
import { containsBytes, keyList, newKey } from './helpers';

/** The whole history as the server stores and serves it: every event, serialised to protobuf bytes. */
async function rawHistory(workflowId: string): Promise<{ bytes: Uint8Array; events: temporal.api.history.v1.IHistoryEvent[] }> {
  const t = testTemporal();
  const events: temporal.api.history.v1.IHistoryEvent[] = [];
  let nextPageToken: Uint8Array | undefined;
  do {
    const page = await t.connection.workflowService.getWorkflowExecutionHistory({ namespace: t.server.namespace, execution: { workflowId }, nextPageToken });
    events.push(...(page.history?.events ?? []));
    nextPageToken = page.nextPageToken && page.nextPageToken.length > 0 ? page.nextPageToken : undefined;
  } while (nextPageToken);
  return { bytes: temporal.api.history.v1.History.encode({ events }).finish(), events };
}

const PII = 'user1@example.org';
/** A workflow failure whose message names a user (zod names the unknown key in healthCheckWorkflow's input). */
const LEAK_KEY = 'leak-user1@example.org';

describe('payload encryption end to end (real dev server, worker and client with the codec)', function () {
  this.timeout(60_000);
  let encrypting: DataConverter;
  let codecClient: Client;
  const fixtures: SyncFixture[] = [];

  before(() => {
    const config = loadProcessConfig({ DUO_SYNC_CODEC_KEYS: keyList({ old: newKey(), current: newKey() }), DUO_SYNC_CODEC_ACTIVE_KEY: 'current' });
    const dc = dataConverterFromConfig(config);
    assert.ok(dc);
    encrypting = dc;
    const t = testTemporal();
    codecClient = new Client({ connection: t.connection, namespace: t.server.namespace, dataConverter: encrypting });
  });
  after(async () => {
    await Promise.all(fixtures.splice(0).map((fx) => fx.cleanup()));
  });

  /**
   * A full sync whose history carries personal data: a full sync's history holds counts, not user
   * records, except for per-user failures, which name the user. So user1 logs in with an email-style
   * username (as with UPNs) and has an invalid userType, and its failure lands in the run summary.
   */
  async function fullSync(encrypted: boolean): Promise<{ fx: SyncFixture; workflowId: string; result: FullSyncResult }> {
    const users = makeUsers(3);
    users[1] = { ...users[1]!, username: PII, attributes: { userType: 'superuser' } };
    const rules = [{ id: 'staff', direction: 'outbound' as const, scope: { kind: 'all' as const }, attributeMappings: { userType: { from: 'attr:userType' } }, administrators: { role: 'Help Desk' as const } }];
    const fx = await makeSyncFixture({ users, config: { rules } });
    fixtures.push(fx);
    const client = encrypted ? codecClient : testTemporal().client;
    const workflowId = uniqueId(`full-sync/${fx.connectionId}`);
    const result = (await withWorker(encrypted ? { dataConverter: encrypting } : {}, async (taskQueue) => {
      await configureEntityOn(fx, taskQueue, client);
      const done = await client.workflow.execute('fullSyncWorkflow', { taskQueue, workflowId, args: [{ connectionId: fx.connectionId }] });
      await client.workflow.getHandle(connectionWorkflowId(fx.connectionId)).terminate('test done');
      return done;
    })) as FullSyncResult;
    assert.equal(result.summary.created, 2);
    assert.equal(result.summary.failed, 1);
    assert.match(result.summary.failures[0]?.message ?? '', new RegExp(`${PII}.*userType "superuser" is not valid`), 'the client decoded the result');
    assert.equal(fx.duoUser('user0')?.email, 'user0@example.org');
    return { fx, workflowId, result };
  }

  it('a full sync through the codec leaves no email and no Duo secret in the stored history', async () => {
    const { fx, workflowId } = await fullSync(true);
    const { bytes, events } = await rawHistory(workflowId);
    assert.ok(events.length > 5);
    assert.ok(containsBytes(bytes, 'binary/encrypted'), 'payloads are marked binary/encrypted');
    assert.ok(containsBytes(bytes, 'current'), 'payloads name the active key id');
    for (const needle of [PII, 'superuser', fx.sandbox.account.secretKey]) {
      assert.ok(!containsBytes(bytes, needle), `history contains ${needle === fx.sandbox.account.secretKey ? 'the Duo secret key' : needle}`);
    }
    await assert.rejects(testTemporal().client.workflow.getHandle(workflowId).result(), /binary\/encrypted/, 'a client without the codec cannot read the result');
  });

  it('the same check without the codec finds the email (so the check above can fail), and never the secret', async () => {
    const { fx, workflowId } = await fullSync(false);
    const { bytes } = await rawHistory(workflowId);
    assert.ok(containsBytes(bytes, PII), 'plain history holds the email');
    assert.ok(!containsBytes(bytes, 'binary/encrypted'));
    assert.ok(!containsBytes(bytes, fx.sandbox.account.secretKey), 'the Duo secret key is never in history, only its reference');
  });

  for (const encrypted of [true, false]) {
    it(`a workflow failure message naming a user is ${encrypted ? 'encrypted' : 'plain text without the codec'}`, async () => {
      const client = encrypted ? codecClient : testTemporal().client;
      const workflowId = uniqueId('health-check/codec');
      const input = { echo: 'hi', [LEAK_KEY]: 1 } as Parameters<typeof healthCheckWorkflow>[0];
      const err = await withWorker(encrypted ? { dataConverter: encrypting } : {}, (taskQueue) =>
        client.workflow.execute(healthCheckWorkflow, { taskQueue, workflowId, args: [input] }).then(
          () => assert.fail('healthCheckWorkflow should reject unknown input keys'),
          (e: unknown) => e,
        ),
      );
      assert.ok(err instanceof WorkflowFailedError, String(err));
      assert.match(err.cause?.message ?? '', new RegExp(LEAK_KEY), 'the client (with or without codec) reads the real message');
      const { bytes, events } = await rawHistory(workflowId);
      const failed = events.find((e) => e.workflowExecutionFailedEventAttributes)?.workflowExecutionFailedEventAttributes?.failure;
      assert.ok(failed);
      if (encrypted) {
        assert.equal(failed.message, 'Encoded failure');
        assert.ok(failed.encodedAttributes?.metadata?.['encryption-key-id']);
        assert.ok(!containsBytes(bytes, LEAK_KEY), 'the failure message is encrypted');
      } else {
        assert.match(failed.message ?? '', new RegExp(LEAK_KEY));
        assert.ok(containsBytes(bytes, LEAK_KEY));
      }
    });
  }
});
