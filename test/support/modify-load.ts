/** A load of user modifications against one Duo account, for the pacing tests. */
import { isDuoError, type DuoClient } from '../../src/duo';

export interface ModifyLoad {
  /** Modifications to make, spread over `users` in turn. */
  modifications: number;
  /** Concurrent lanes, like a page activity's concurrency. */
  lanes: number;
  users: readonly string[];
  /** Written into each user's notes, so two loads' writes differ. */
  tag: string;
}

/**
 * Like an activity under Temporal: a 429 is retried at once (the client's pacer decides when it
 * leaves). Returns every call made, retries included, and how many were answered 429.
 */
export async function modifyLoad(duo: DuoClient, load: ModifyLoad): Promise<{ calls: number; rateLimited: number }> {
  let calls = 0;
  let rateLimited = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < load.modifications) {
      const i = next++;
      for (;;) {
        calls += 1;
        try {
          await duo.modifyUser(load.users[i % load.users.length] as string, { notes: `${load.tag}-${i}` });
          break;
        } catch (err) {
          if (!isDuoError(err, 'rateLimited')) throw err;
          rateLimited += 1;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: load.lanes }, lane));
  return { calls, rateLimited };
}
