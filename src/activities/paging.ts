/** Paging through Duo listings in activities. */
import { ApplicationFailure } from '@temporalio/activity';

/**
 * The next offset of a Duo listing, refusing one that does not advance: a server that keeps
 * answering the same offset would otherwise keep a run paging (and continuing as new) forever.
 */
export function nextOffsetOf(offset: number, items: number, next: number | undefined): number | null {
  if (next === undefined) return null;
  if (next <= offset || items === 0) {
    throw ApplicationFailure.nonRetryable(`Duo's user listing did not advance (offset ${offset} answered next_offset ${next} with ${items} users); the run stops rather than loop`, 'PagingDidNotAdvance');
  }
  return next;
}
