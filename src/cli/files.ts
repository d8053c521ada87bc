/**
 * Reads the documents operators hand to the CLI (connection configurations and rules) from YAML
 * or JSON files and validates them with the same zod schemas the workflows use. Every problem is
 * reported as a `path: message` line; values are never echoed, so a misplaced secret stays private.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { validateConnectionConfig, validateRule, type ConnectionConfig, type Rule } from '../domain/connection';
import { usageError } from './io';

async function readDocument(file: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown error';
    throw usageError(`cannot read ${what} file ${file} (${code})`);
  }
  const ext = extname(file).toLowerCase();
  try {
    // JSON is YAML too, but JSON.parse gives the better message for a .json file.
    return ext === '.json' ? (JSON.parse(text) as unknown) : (parseYaml(text) as unknown);
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
    throw usageError(`cannot parse ${what} file ${file} as ${ext === '.json' ? 'JSON' : 'YAML'}: ${first}`);
  }
}

export async function readConnectionConfigFile(file: string): Promise<ConnectionConfig> {
  const doc = await readDocument(file, 'connection configuration');
  const result = validateConnectionConfig(doc);
  if (!result.ok) throw usageError(`invalid connection configuration in ${file} (${result.errors.length} problem${result.errors.length === 1 ? '' : 's'}):`, result.errors);
  return result.config;
}

export async function readRuleFile(file: string): Promise<Rule> {
  const doc = await readDocument(file, 'rule');
  const result = validateRule(doc);
  if (!result.ok) throw usageError(`invalid rule in ${file} (${result.errors.length} problem${result.errors.length === 1 ? '' : 's'}):`, result.errors);
  return result.rule;
}
