/**
 * The docs claim no more than the code does: every environment variable the README and docs/ name is
 * read by some code, every variable the worker and CLI read is documented, and the documented
 * configuration examples parse.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EnvSchema } from '../../src/config/env';
import { SecretPolicyEnvSchema } from '../../src/config/secrets';
import { ConnectionConfigSchema, formatIssues } from '../../src/domain/connection';

const root = resolve(__dirname, '../..');
const VARIABLE = /\b(?:DUO_SYNC_[A-Z0-9_]+|DUO_[A-Z0-9_]+|TEMPORAL_[A-Z0-9_]+|OTEL_[A-Z0-9_]+)\b/g;
/** Settings of other programs that the docs tell operators about (the Temporal UI server's codec options). */
const OTHER_PROGRAMS = new Set(['TEMPORAL_CODEC_PASS_ACCESS_TOKEN', 'TEMPORAL_CODEC_INCLUDE_CREDENTIALS']);

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'node_modules' || name === 'fixtures' ? [] : files(path, ext);
    return ext.test(name) ? [path] : [];
  });
}

const docs = [join(root, 'README.md'), ...files(join(root, 'docs'), /\.md$/)];
const docText = docs.map((f) => readFileSync(f, 'utf8')).join('\n');
const codeText = [...['src', 'scripts', 'bin', 'bench', 'e2e', 'test/support'].flatMap((d) => files(join(root, d), /\.(ts|js|sh|mjs)$/)), join(root, 'test/replay/replay.test.ts')]
  .map((f) => readFileSync(f, 'utf8'))
  .join('\n');

describe('documented settings', () => {
  it('every environment variable the docs name is read by some code (examples of secret references aside)', () => {
    const named = new Set(docText.match(VARIABLE) ?? []);
    const examples = new Set([...docText.matchAll(/"env":\s*"([A-Z0-9_]+)"/g)].map((m) => m[1] as string));
    const unread = [...named].filter((v) => !OTHER_PROGRAMS.has(v) && !examples.has(v) && !new RegExp(`\\b${v}\\b`).test(codeText));
    assert.deepEqual(unread, []);
  });

  it('every variable the worker and the CLI read is documented', () => {
    const read = [...Object.keys(EnvSchema.shape), ...Object.keys(SecretPolicyEnvSchema.shape)];
    const undocumented = read.filter((v) => !new RegExp(`\\b${v}\\b`).test(docText));
    assert.deepEqual(undocumented, []);
  });

  it('the README\'s connection example and the notifications example parse', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    const example = /```json\n(\{\n {2}"connectionId": "acme"[\s\S]*?)\n```/.exec(readme)?.[1];
    assert.ok(example, 'the README has the connection example');
    const parsed = ConnectionConfigSchema.safeParse(JSON.parse(example));
    assert.ok(parsed.success, parsed.success ? '' : formatIssues(parsed.error).join('; '));
    assert.equal(parsed.data.description, 'ACME staff from the corporate directory');
    const operations = readFileSync(join(root, 'docs/operations.md'), 'utf8');
    const notifications = /```json\n(\{ "notifications"[\s\S]*?)\n```/.exec(operations)?.[1];
    assert.ok(notifications, 'docs/operations.md has the notifications example');
    const withNotifications = ConnectionConfigSchema.safeParse({ ...parsed.data, ...(JSON.parse(notifications) as object) });
    assert.ok(withNotifications.success, withNotifications.success ? '' : formatIssues(withNotifications.error).join('; '));
  });
});
