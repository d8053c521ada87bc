// Lint: type-aware TypeScript rules everywhere; workflow code (and the pure modules it imports)
// may not import Node built-ins or I/O libraries, because workflows must stay deterministic.
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);
const ioModules = ['axios', 'ldapts', 'scimmy', 'yaml', 'commander', 'cli-progress', '@temporalio/activity', '@temporalio/client', '@temporalio/worker'];

export default tseslint.config(
  { ignores: ['node_modules/**', 'lib/**', '.data/**', 'docs/**', 'bin/**', 'eslint.config.mjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/workflows/**/*.ts', 'src/domain/**/*.ts', 'src/contract/**/*.ts', 'src/metrics/workflow-interceptors.ts', 'src/metrics/sinks.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [...nodeBuiltins, ...ioModules].map((name) => ({
            name,
            message: 'Workflow code must be deterministic: no Node built-ins or I/O modules (move this to an activity).',
            allowTypeImports: true,
          })),
          patterns: [
            { group: ['**/activities', '**/activities/*'], message: 'Import activities with `import type` only.', allowTypeImports: true },
            { group: ['../workflows', '../workflows/*', '../../workflows', '../../workflows/*'], message: 'Pure modules and the contract never import workflow code.' },
            { group: ['**/duo/*', '**/duo', '**/stores/*', '**/stores', '**/sandbox/*', '**/config/env', '**/config/secrets', '**/temporal/*'], message: 'Workflow code may not import activity-side modules.', allowTypeImports: true },
          ],
        },
      ],
    },
  },
  {
    // The workflow bundle is the worker's business: everything else talks to workflows through src/contract.
    files: ['src/**/*.ts', 'bench/**/*.ts', 'e2e/**/*.ts'],
    ignores: ['src/workflows/**/*.ts', 'src/domain/**/*.ts', 'src/contract/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { patterns: [{ group: ['**/workflows', '**/workflows/*'], message: 'Import messages, ids and result types from src/contract; only the worker bundles src/workflows.' }] },
      ],
    },
  },
);
