/**
 * OpenTelemetry tracing through Temporal's interceptors (@temporalio/interceptors-opentelemetry):
 * workflow spans (exported through a workflow sink), activity spans, and trace context carried in
 * Temporal headers from workflow to activity and child. Off unless OTEL_EXPORTER_OTLP_ENDPOINT is set;
 * then spans go over OTLP/HTTP to `<endpoint>/v1/traces`.
 */
import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { makeWorkflowExporter, OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { OpenTelemetryWorkflowExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow';

/** The workflow-side interceptor module, bundled into the workflow code when tracing is on. */
export const TRACING_WORKFLOW_MODULE = require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors');

export interface Tracing {
  activityInterceptors: ActivityInterceptorsFactory[];
  sinks: InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }>;
  /** Flushes spans still buffered and stops the exporter. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  exporter: SpanExporter;
  serviceName: string;
  /** `batch` (default) buffers spans; `simple` exports each at once (tests). */
  processor?: 'batch' | 'simple';
}

export function createTracing(options: TracingOptions): Tracing {
  const resource = new Resource({ 'service.name': options.serviceName });
  const processor: SpanProcessor = options.processor === 'simple' ? new SimpleSpanProcessor(options.exporter) : new BatchSpanProcessor(options.exporter);
  const provider = new BasicTracerProvider({ resource });
  provider.addSpanProcessor(processor);
  // A tracer of our own provider, not the global one: nothing else in the process is affected.
  const tracer = provider.getTracer('duo-sync');
  // The activity interceptor reads the trace context from Temporal headers with the global
  // propagator and makes it current with the global context manager; both are no-ops until set.
  // W3C trace context is what the workflow side writes. (Setting a global twice keeps the first.)
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  return {
    activityInterceptors: [(ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    sinks: { exporter: makeWorkflowExporter(processor, resource) },
    shutdown: () => provider.shutdown(),
  };
}

/** Tracing over OTLP/HTTP when an endpoint is configured; undefined (off) otherwise. */
export function tracingFromConfig(config: { OTEL_EXPORTER_OTLP_ENDPOINT?: string | undefined; OTEL_SERVICE_NAME: string }): Tracing | undefined {
  if (!config.OTEL_EXPORTER_OTLP_ENDPOINT) return undefined;
  const url = `${config.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  return createTracing({ exporter: new OTLPTraceExporter({ url }), serviceName: config.OTEL_SERVICE_NAME });
}
