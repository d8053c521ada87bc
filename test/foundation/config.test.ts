import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { resolve } from 'node:path';
import { ConfigError, describeProcessConfig, loadProcessConfig } from '../../src/config/env';

const run = promisify(execFile);
const root = resolve(__dirname, '../..');

describe('process configuration (env, zod)', () => {
  it('applies defaults', () => {
    const cfg = loadProcessConfig({});
    assert.equal(cfg.TEMPORAL_ADDRESS, 'localhost:7233');
    assert.equal(cfg.TEMPORAL_NAMESPACE, 'default');
    assert.equal(cfg.TEMPORAL_TASK_QUEUE, 'duo-sync');
  });

  it('rejects a malformed address with one line naming the variable and value', () => {
    assert.throws(() => loadProcessConfig({ TEMPORAL_ADDRESS: 'nonsense' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.match(err.message, /^invalid configuration: TEMPORAL_ADDRESS="nonsense": must be host:port/);
      assert.ok(!err.message.includes('\n'));
      return true;
    });
    assert.throws(() => loadProcessConfig({ TEMPORAL_ADDRESS: 'localhost:70000' }), /port must be between 1 and 65535/);
  });

  it('needs both halves of an mTLS pair and never echoes secret values', () => {
    assert.throws(() => loadProcessConfig({ TEMPORAL_TLS_CERT: '/tmp/c.pem' }), /TEMPORAL_TLS_KEY: mTLS needs both/);
    assert.throws(
      () => loadProcessConfig({ TEMPORAL_API_KEY: 'sekret-api-key', TEMPORAL_NAMESPACE: 'bad namespace!' }),
      (err: unknown) => err instanceof Error && !err.message.includes('sekret-api-key') && /TEMPORAL_NAMESPACE/.test(err.message),
    );
    const described = describeProcessConfig(loadProcessConfig({ TEMPORAL_API_KEY: 'sekret-api-key' }));
    assert.ok(!described.includes('sekret'));
    assert.match(described, /TLS\+API key/);
  });

  it('the worker process exits non-zero with one clear line on bad config', async () => {
    await assert.rejects(
      run(process.execPath, ['-r', 'ts-node/register/transpile-only', 'src/worker.ts'], {
        cwd: root,
        env: { ...process.env, TEMPORAL_ADDRESS: 'nonsense' },
      }),
      (err: { code?: number; stderr?: string }) => {
        assert.equal(err.code, 1);
        const lines = (err.stderr ?? '').trim().split('\n');
        assert.equal(lines.length, 1, `expected one line, got: ${err.stderr}`);
        assert.match(lines[0] ?? '', /duo-sync worker: invalid configuration: TEMPORAL_ADDRESS="nonsense"/);
        return true;
      },
    );
  });
});
