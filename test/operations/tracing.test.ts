/**
 * OpenTelemetry tracing through Temporal's interceptors: off by default; with an exporter, a
 * workflow and its activities produce spans of one trace; with OTEL_EXPORTER_OTLP_ENDPOINT, spans
 * are sent over OTLP/HTTP (to a local receiver here).
 */
import assert from 'node:assert/strict';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace-base';
import { bundleWorkflowCode, DefaultLogger, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { loadProcessConfig } from '../../src/config/env';
import { createTracing, tracingFromConfig, type Tracing } from '../../src/tracing';
import { createDuoSyncWorker, workflowInterceptorModules } from '../../src/worker';
import { testTemporal, uniqueId } from '../support/temporal';
import { startWebhookReceiver } from '../support/webhook-receiver';

describe('tracing: OpenTelemetry spans from workflows and activities', function () {
  this.timeout(120_000);
  let bundle: WorkflowBundleWithSourceMap;

  before(async () => {
    bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), workflowInterceptorModules: workflowInterceptorModules({ tracing: true }), logger: new DefaultLogger('WARN') });
  });

  async function healthCheckTraced(tracing: Tracing): Promise<void> {
    const t = testTemporal();
    const taskQueue = uniqueId('tracing');
    const worker = await createDuoSyncWorker({ connection: t.nativeConnection, namespace: t.server.namespace, taskQueue, workflowBundle: bundle, tracing });
    await worker.runUntil(async () => {
      const handle = await t.client.workflow.start('healthCheckWorkflow', { taskQueue, workflowId: uniqueId('health-check/traced'), args: [{ echo: 'trace me' }] });
      await handle.result();
    });
  }

  it('is off unless OTEL_EXPORTER_OTLP_ENDPOINT is set', () => {
    assert.equal(tracingFromConfig(loadProcessConfig({})), undefined);
    assert.throws(() => loadProcessConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT/);
  });

  it('produces a workflow span and an activity span in one trace', async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = createTracing({ exporter, serviceName: 'duo-sync-test', processor: 'simple' });
    await healthCheckTraced(tracing);
    // Read before shutdown: shutting the in-memory exporter down empties it.
    const spans = exporter.getFinishedSpans();
    await tracing.shutdown();
    const workflow = spans.find((s) => s.name === 'RunWorkflow:healthCheckWorkflow');
    const activity = spans.find((s) => s.name === 'RunActivity:healthCheck');
    assert.ok(workflow, `spans: ${spans.map((s) => s.name).join(', ')}`);
    assert.ok(activity, `spans: ${spans.map((s) => s.name).join(', ')}`);
    assert.equal(activity.spanContext().traceId, workflow.spanContext().traceId, 'the activity continues the workflow\'s trace');
    const start = spans.find((s) => s.name === 'StartActivity:healthCheck');
    assert.equal(activity.parentSpanId, start?.spanContext().spanId, 'its parent is the workflow\'s StartActivity span');
    assert.equal(workflow.resource.attributes['service.name'], 'duo-sync-test');
  });

  it('exports over OTLP/HTTP to <endpoint>/v1/traces when configured', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const tracing = tracingFromConfig(loadProcessConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url('') }));
      assert.ok(tracing);
      await healthCheckTraced(tracing);
      await tracing.shutdown();
      const posts = receiver.posts.filter((p) => p.path === '/v1/traces');
      assert.ok(posts.length > 0, 'spans were posted');
      assert.ok(posts.some((p) => p.body.includes('RunWorkflow:healthCheckWorkflow')), 'the OTLP JSON carries the workflow span');
    } finally {
      await receiver.close();
    }
  });
});
