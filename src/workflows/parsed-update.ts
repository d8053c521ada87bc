/**
 * Update handlers whose payload is parsed once: the validator parses (rejecting bad input before
 * it reaches history) and the handler reuses that value, because the SDK passes both the same
 * argument object. On replay validators do not run, so the handler parses itself.
 */
import { setHandler } from '@temporalio/workflow';
import type { UpdateDefinition } from '@temporalio/common';

export function setParsedUpdateHandler<R, Args extends unknown[], P>(
  def: UpdateDefinition<R, Args>,
  parse: (raw: unknown) => P,
  apply: (parsed: P, requestedBy: unknown) => R | Promise<R>,
  onAccepted: () => void,
): void {
  const parsed = new WeakMap<object, P>();
  const key = (raw: unknown): object => (typeof raw === 'object' && raw !== null ? raw : parsed);
  setHandler(
    def as unknown as UpdateDefinition<R, [unknown, unknown]>,
    // The optional second argument says who asked (src/contract/operations.ts); the entity records it.
    (raw: unknown, requestedBy: unknown) => {
      onAccepted();
      const value = parsed.has(key(raw)) ? (parsed.get(key(raw)) as P) : parse(raw);
      parsed.delete(key(raw));
      return apply(value, requestedBy);
    },
    { validator: (raw: unknown, _requestedBy: unknown) => void parsed.set(key(raw), parse(raw)) },
  );
}
