/**
 * Mocha configuration. Test files run in two processes (the CI machine has two cores; most tests
 * wait on Temporal, not on a CPU). test/support/global-fixtures.ts starts the one Temporal dev
 * server they share. Recording replay fixtures (DUO_SYNC_RECORD_HISTORIES=1) runs files one at a
 * time, since recordings update one shared index file.
 */
const recording = process.env.DUO_SYNC_RECORD_HISTORIES === '1';

module.exports = {
  require: ['ts-node/register/transpile-only', 'test/support/global-fixtures.ts', 'test/support/root-hooks.ts'],
  spec: ['test/**/*.test.ts'],
  timeout: 60000,
  slow: 5000,
  reporter: 'spec',
  parallel: !recording,
  jobs: 2,
};
