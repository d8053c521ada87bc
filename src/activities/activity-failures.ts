/** Error conversion shared by the activities: client and store errors become Temporal failures with the right retry behaviour. */
import { ApplicationFailure, Context } from '@temporalio/activity';
import { toActivityFailure } from '../duo';
import { findRule, type ConnectionConfig, type Rule } from '../domain/connection';
import { isStoreError } from '../stores';

/** Converts client/store errors to Temporal failures with the right retry behaviour. */
export async function asActivityFailure<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    // Already decided (e.g. by a nested asActivityFailure call): keep its type and retry behaviour.
    if (err instanceof ApplicationFailure) throw err;
    if (isStoreError(err)) {
      throw ApplicationFailure.create({ message: `${what}: ${err.message}`, type: `Store${err.kind}`, nonRetryable: !err.retryable, cause: err });
    }
    throw toActivityFailure(err, Context.current().info.attempt);
  }
}

export function outboundRule(config: ConnectionConfig, ruleId: string): Rule {
  const rule = findRule(config, ruleId);
  if (!rule || rule.direction !== 'outbound') {
    throw ApplicationFailure.nonRetryable(`rule ${ruleId} is not an outbound rule of connection ${config.connectionId}`, 'UnknownRule');
  }
  return rule;
}

