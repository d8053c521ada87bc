/**
 * Values a run computes once from the whole store (the numbers several users list, the nested
 * group graph) and its pages reuse, kept on the worker: run inputs stay ids and cursors. A page
 * served by a worker without the value computes it again there; a failed computation is not kept.
 */

/** Runs whose values one worker keeps at once (oldest dropped first). */
const MAX_RUNS = 16;

export class PerRunCache<T> {
  private readonly values = new Map<string, Promise<T>>();

  constructor(private readonly maxEntries = MAX_RUNS) {}

  get(runId: string, ruleId: string, build: () => Promise<T>): Promise<T> {
    const key = JSON.stringify([runId, ruleId]);
    let value = this.values.get(key);
    if (!value) {
      value = build();
      this.values.set(key, value);
      // A failed read must not be remembered: the page's retry reads again.
      value.catch(() => this.values.delete(key));
      while (this.values.size > this.maxEntries) {
        const oldest = this.values.keys().next().value;
        if (oldest === undefined) break;
        this.values.delete(oldest);
      }
    }
    return value;
  }
}
