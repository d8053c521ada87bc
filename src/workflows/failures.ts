/**
 * Converting errors into Temporal failures inside workflow code. A plain Error (or ZodError) thrown
 * from a workflow or handler fails the *workflow task*, which Temporal retries forever; an
 * ApplicationFailure fails the workflow or the update with a readable reason instead.
 */
import { ApplicationFailure, TemporalFailure } from '@temporalio/workflow';
import type { z } from 'zod';
import { formatIssues } from '../domain/connection';

export function describeIssues(error: z.ZodError): string {
  return formatIssues(error).join('; ');
}

export function invalidInput(what: string, error: z.ZodError): ApplicationFailure {
  return ApplicationFailure.nonRetryable(`invalid ${what} input: ${describeIssues(error)}`, 'InvalidInput');
}

/** A workflow's input, parsed; a bad one fails the workflow (not its task) with readable lines. */
export function parseInput<S extends z.ZodType>(schema: S, workflow: string, raw: unknown): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw invalidInput(workflow, parsed.error);
  return parsed.data;
}

/** The innermost readable message of an activity/child failure chain. */
export function failureMessage(err: unknown): string {
  let current: unknown = err;
  let message = err instanceof Error ? err.message : String(err);
  while (current instanceof TemporalFailure && current.cause) {
    current = current.cause;
    if (current instanceof Error && current.message) message = current.message;
  }
  return message;
}
