/**
 * Config-time checks of inbound rules, kept apart from src/domain/inbound.ts so the connection
 * schema can use them without an import cycle (inbound → ownership → connection). Shape only:
 * whether the store can write (and disable) is checked by the connection test, which can reach it.
 */
import type { Rule } from './connection';

/** Config-time problems of a connection's inbound rules (shape only; store capabilities are checked by the connection test). */
export function inboundRuleIssues(rules: readonly Rule[]): { index: number; path: string; message: string }[] {
  const issues: { index: number; path: string; message: string }[] = [];
  let first: string | undefined;
  rules.forEach((rule, index) => {
    if (rule.direction !== 'inbound') return;
    if (first !== undefined) issues.push({ index, path: 'direction', message: `only one inbound rule per connection (rule ${first} is already inbound): Duo users are not scoped, so two rules would compete for them` });
    first ??= rule.id;
    if (rule.scope.kind !== 'all') issues.push({ index, path: 'scope', message: 'inbound rules take every Duo user not provisioned by this connection: use {"kind":"all"}' });
    if (Object.keys(rule.attributeMappings).length > 0) issues.push({ index, path: 'attributeMappings', message: 'attributeMappings map store → Duo and apply to outbound rules only; inbound rules use the default Duo → store mapping' });
    if (rule.groups) issues.push({ index, path: 'groups', message: 'groups are not synced inbound: remove groups from this rule' });
  });
  return issues;
}
