/**
 * `duo-sync`, the ops CLI: configure connections and rules, trigger and follow syncs, read status
 * and events, approve guarded deletions, and the SRE tools (replay a history against the current
 * code, reset a run). The Temporal connection comes from the environment (src/config/env.ts).
 * `runCli` takes argv, the output streams and the environment, and returns the exit code, so tests
 * run it in-process; bin/duo-sync.js is the executable. Exit codes: see `ExitCode` in ./io.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { z } from 'zod';
import {
  approveDeletions,
  configureConnection,
  connectDuoSyncClient,
  connectionAudit,
  connectionStatus,
  connectionWorkflowId,
  defaultRequestedBy,
  deleteConnection,
  deleteRule,
  listConnections,
  InvalidRequestError,
  pauseConnection,
  restoreDeletions,
  resumeConnection,
  syncNow,
  syncUser,
  testConnection,
  UpdateRejectedError,
  upsertRule,
  type DuoSyncClient,
} from '../client';
import { dataConverterFromConfig } from '../codec/config';
import { ConfigError, loadProcessConfig, type ProcessConfig } from '../config/env';
import { SlugSchema, type ConnectionConfig } from '../domain/connection';
import { configQuery, UsernameSchema } from '../contract';
import type { ConnectionWorkflowFn } from '../contract';
import { readConnectionConfigFile, readRuleFile } from './files';
import { auditLines, connectionListLines, eventLines, fullSyncResultLines, statusLines, summaryLines, testResultLines } from './format';
import { chooseResetEvent, downloadHistory, readHistoryFile, replayHistory, resetWorkflow, type Reapply, type ResetPoint } from './history';
import { CliError, ExitCode, Printer, usageError, type CliIo } from './io';
import { failureText, waitForFullSync, type WaitOutcome } from './sync-wait';

export { ExitCode, type CliIo } from './io';

/** Test seams; production uses the defaults. */
export interface CliOptions {
  /** How often `sync now --wait` polls the status query. */
  pollMs?: number;
}

interface GlobalOptions {
  json?: boolean;
  as?: string;
}

// ---- argument validation (zod at the CLI boundary) ----------------------------------------------

function arg<T>(schema: z.ZodType<T>, name: string, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw usageError(`${name}: ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  return parsed.data;
}

const WorkflowIdSchema = z.string().min(1, 'is required').max(1000, 'is too long');
const HashSchema = z.string().regex(/^[0-9a-f]{1,128}$/i, 'must be the hex deletionSetHash shown by status');
const ReasonSchema = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
const IdentitySchema = z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters');

/** Commander option parser backed by a zod schema: a bad value is a usage error (exit 2). */
function optionParser<T>(schema: z.ZodType<T>) {
  return (value: string): T => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new InvalidArgumentError(parsed.error.issues.map((i) => i.message).join('; '));
    return parsed.data;
  };
}
const positiveInt = optionParser(z.coerce.number().int('must be a whole number').min(1, 'must be at least 1'));

// ---- errors -------------------------------------------------------------------------------------

/** What to do next, by the workflow's failure type (see src/workflows/connection.ts). */
const REJECTION_HINTS: Record<string, (connectionId: string) => string> = {
  NotConfigured: () => 'configure it first: duo-sync connection configure <file>',
  NotProvisioning: (id) => `see why with: duo-sync status ${id}`,
  NotAwaitingApproval: (id) => `find the run awaiting approval with: duo-sync status ${id}`,
  DeletionSetMismatch: (id) => `use the deletionSetHash shown by: duo-sync status ${id}`,
  UnknownRule: (id) => `list the rules with: duo-sync status ${id}`,
  ConnectionDeleting: (id) => `follow the deletion with: duo-sync status ${id}`,
  InvalidInput: () => 'fix the input and run the command again',
  ReconcileFailed: (id) => `read the failure with: duo-sync events ${id}`,
};

interface Target {
  /** What the command was doing, e.g. "approve deletions for run full-sync/acme/3". */
  action: string;
  connectionId?: string;
}

function describeError(err: unknown, target: Target, cfg: ProcessConfig | undefined): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof ConfigError) return usageError(err.message);
  const head = `could not ${target.action}`;
  const conn = target.connectionId;
  if (err instanceof UpdateRejectedError) {
    const hint = err.type && conn ? REJECTION_HINTS[err.type]?.(conn) : undefined;
    return new CliError(`${head}: ${err.reason}${err.type ? ` (${err.type})` : ''}${hint ? `; ${hint}` : ''}`, ExitCode.failed);
  }
  if (err instanceof InvalidRequestError) return new CliError(`${head}: ${err.message}; fix the input and run the command again`, ExitCode.failed);
  if (err instanceof WorkflowNotFoundError) {
    const where = cfg ? ` in namespace ${cfg.TEMPORAL_NAMESPACE}` : '';
    const hint =
      conn && err.workflowId === connectionWorkflowId(conn)
        ? `connection ${conn} does not exist or is not running; create it with: duo-sync connection create <file>`
        : 'check the workflow id (and --run-id); closed runs are kept only for the namespace retention period';
    return new CliError(`${head}: workflow ${err.workflowId}${where} was not found; ${hint}`, ExitCode.failed);
  }
  return new CliError(`${head}: ${failureText(err).replace(/\s*\n\s*/g, ' ')}`, ExitCode.failed);
}

// ---- the session: lazy Temporal connection + output ---------------------------------------------

class Session {
  exitCode: number = ExitCode.ok;
  private dsc: DuoSyncClient | undefined;
  private cfg: ProcessConfig | undefined;

  constructor(
    readonly io: CliIo,
    private readonly env: NodeJS.ProcessEnv,
    private readonly program: Command,
    readonly options: Required<CliOptions>,
  ) {}

  get out(): Printer {
    return new Printer(this.io, this.program.opts<GlobalOptions>().json === true);
  }

  get json(): boolean {
    return this.program.opts<GlobalOptions>().json === true;
  }

  /** The validated environment; a bad value is a ConfigError (exit 2). */
  processConfig(): ProcessConfig {
    this.cfg ??= loadProcessConfig(this.env);
    return this.cfg;
  }

  async client(): Promise<DuoSyncClient> {
    if (this.dsc) return this.dsc;
    const cfg = this.processConfig();
    const as = this.program.opts<GlobalOptions>().as;
    const requestedBy = as === undefined ? defaultRequestedBy('cli', this.env) : { identity: arg(IdentitySchema, '--as', as), via: 'cli' as const };
    try {
      this.dsc = await connectDuoSyncClient(cfg, { requestedBy });
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new CliError(
        `cannot connect to Temporal at ${cfg.TEMPORAL_ADDRESS} (namespace ${cfg.TEMPORAL_NAMESPACE}): ${failureText(err)}; check TEMPORAL_ADDRESS and the TLS/API key settings`,
        ExitCode.failed,
      );
    }
    return this.dsc;
  }

  /** Runs one command body; any failure becomes one line on stderr and an exit code. */
  async run(target: Target, body: () => Promise<number | void>): Promise<void> {
    try {
      // Arguments are checked before any connection is made, so a typo is a usage error (exit 2).
      if (target.connectionId !== undefined) arg(SlugSchema, 'connectionId', target.connectionId);
      this.exitCode = (await body()) ?? ExitCode.ok;
    } catch (err) {
      const failure = describeError(err, target, this.cfg);
      this.io.stderr.write(`duo-sync: ${failure.message}\n`);
      for (const detail of failure.details) this.io.stderr.write(`  ${detail}\n`);
      this.exitCode = failure.exitCode;
    }
  }

  async close(): Promise<void> {
    await this.dsc?.close();
    this.dsc = undefined;
  }
}

// ---- commands -----------------------------------------------------------------------------------

async function currentConfig(dsc: DuoSyncClient, connectionId: string): Promise<ConnectionConfig | null> {
  return dsc.client.workflow.getHandle<ConnectionWorkflowFn>(connectionWorkflowId(connectionId)).query(configQuery);
}

async function connectionExists(dsc: DuoSyncClient, connectionId: string): Promise<boolean> {
  try {
    const description = await dsc.client.workflow.getHandle(connectionWorkflowId(connectionId)).describe();
    return description.status.name === 'RUNNING' && (await currentConfig(dsc, connectionId)) !== null;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

async function applyConfig(s: Session, file: string, mode: 'create' | 'configure'): Promise<number> {
  const config = await readConnectionConfigFile(file);
  const dsc = await s.client();
  if (mode === 'create' && (await connectionExists(dsc, config.connectionId))) {
    throw new CliError(`connection ${config.connectionId} already exists; change it with: duo-sync connection configure ${file}`, ExitCode.failed);
  }
  const applied = await configureConnection(dsc, config);
  const status = await connectionStatus(dsc, config.connectionId);
  const test = status.connectionTest;
  s.out.result(
    () => [
      `connection ${config.connectionId} ${mode === 'create' ? 'created' : 'configured'} (${applied.rules} rule${applied.rules === 1 ? '' : 's'}, enabled=${config.enabled})`,
      ...(test ? testResultLines(config.connectionId, test) : []),
    ],
    { connectionId: config.connectionId, ...applied, connectionTest: test ?? null },
  );
  if (test && !test.ok) s.out.note(`duo-sync: connection ${config.connectionId} will not provision until its connection test passes; fix the failing check and run: duo-sync connection test ${config.connectionId}`);
  return ExitCode.ok;
}

async function setEnabled(s: Session, connectionId: string, enabled: boolean): Promise<number> {
  const dsc = await s.client();
  const config = await currentConfig(dsc, connectionId);
  if (!config) throw new CliError(`connection ${connectionId} is not configured yet; configure it with: duo-sync connection configure <file>`, ExitCode.failed);
  const word = enabled ? 'enabled' : 'disabled';
  if (config.enabled !== enabled) await configureConnection(dsc, { ...config, enabled });
  s.out.result(() => [config.enabled === enabled ? `connection ${connectionId} was already ${word}` : `connection ${connectionId} ${word}`], { connectionId, enabled, changed: config.enabled !== enabled });
  return ExitCode.ok;
}

/** After waiting for the run that was already going, finds the one started for the queued request. */
async function nextFullSync(dsc: DuoSyncClient, connectionId: string, known: Set<string>, pollMs: number, timeoutMs = 120_000): Promise<string | undefined> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const status = await connectionStatus(dsc, connectionId);
    const candidates = [status.currentRun?.workflowId, ...status.lastRuns.filter((r) => r.kind === 'fullSync' || r.kind === 'inboundSync').map((r) => r.workflowId)];
    const found = candidates.find((id): id is string => id !== undefined && !known.has(id));
    if (found) return found;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return undefined;
}

function reportWait(s: Session, connectionId: string, workflowId: string, queued: boolean, outcome: WaitOutcome): number {
  switch (outcome.kind) {
    case 'finished': {
      const { result } = outcome;
      s.out.result(() => fullSyncResultLines(result), { workflowId, queued, outcome: result.outcome, result });
      if (result.outcome === 'succeeded') return ExitCode.ok;
      s.out.note(`duo-sync: full sync ${workflowId} of connection ${connectionId} ended ${result.outcome}; read why with: duo-sync status ${connectionId} (see docs/runbook.md)`);
      return ExitCode.failed;
    }
    case 'failed':
      s.out.result(() => [], { workflowId, queued, outcome: 'failed', error: outcome.message });
      throw new CliError(`full sync ${workflowId} of connection ${connectionId} failed: ${outcome.message}; read why with: duo-sync events ${connectionId} (see docs/runbook.md)`, ExitCode.failed);
    case 'awaitingApproval': {
      const a = outcome.progress.awaitingApproval;
      s.out.result(() => [], { workflowId, queued, outcome: 'awaitingApproval', progress: outcome.progress });
      s.out.note(
        `duo-sync: full sync ${workflowId} is waiting for approval of ${a?.plannedDeletions ?? '?'} deprovisions${a?.plannedAdoptions ? ` and ${a.plannedAdoptions} adoptions` : ''} (${a?.reason ?? ''}); approve with: duo-sync approve ${connectionId} ${workflowId} --hash ${a?.deletionSetHash ?? '<hash>'}, or drop them with --skip`,
      );
      return ExitCode.awaitingApproval;
    }
  }
}

function buildProgram(io: CliIo, env: NodeJS.ProcessEnv, options: Required<CliOptions>): { program: Command; session: Session } {
  const program = new Command('duo-sync');
  const s = new Session(io, env, program, options);
  program
    .description('Operate duo-sync: connections, rules, syncs, approvals, and the SRE tools replay and reset.')
    .option('--json', 'machine-readable output (JSON on stdout; no progress bar)')
    .option('--as <identity>', 'who you are, for the audit trail (default: $DUO_SYNC_ACTOR, else <os user>@<host>)')
    .exitOverride()
    .configureOutput({ writeOut: (t) => io.stdout.write(t), writeErr: (t) => io.stderr.write(t) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      [
        '',
        'Temporal connection from the environment: TEMPORAL_ADDRESS (localhost:7233), TEMPORAL_NAMESPACE (default),',
        'TEMPORAL_TASK_QUEUE (duo-sync), TEMPORAL_TLS_CERT/_KEY/_CA/_SERVER_NAME or TEMPORAL_API_KEY.',
        'Exit codes: 0 ok; 1 the operation (or the run waited for) failed; 2 usage or configuration error;',
        '3 the run waits for deletion approval. Runbook: docs/runbook.md',
      ].join('\n'),
    );

  const connId = (v: string): string => arg(SlugSchema, 'connectionId', v);

  // connection ...
  const connection = program.command('connection').description('create, configure, test, enable/disable, pause/resume a connection');
  connection
    .command('create')
    .argument('<file>', 'connection configuration, YAML or JSON')
    .description('create a connection (fails if it already exists); runs the connection test')
    .action((file: string) => s.run({ action: `create the connection from ${file}` }, () => applyConfig(s, file, 'create')));
  connection
    .command('configure')
    .argument('<file>', 'connection configuration, YAML or JSON')
    .description('create or replace a connection configuration; runs the connection test')
    .action((file: string) => s.run({ action: `configure the connection from ${file}` }, () => applyConfig(s, file, 'configure')));
  connection
    .command('test')
    .argument('<connectionId>')
    .description('test Duo reachability, credentials, read and write permission, and the store')
    .action((id: string) =>
      s.run({ action: `test connection ${id}`, connectionId: id }, async () => {
        const result = await testConnection(await s.client(), connId(id));
        s.out.result(() => testResultLines(id, result), result);
        return result.ok ? ExitCode.ok : ExitCode.failed;
      }),
    );
  for (const [name, enabled] of [
    ['enable', true],
    ['disable', false],
  ] as const) {
    connection
      .command(name)
      .argument('<connectionId>')
      .description(`${name} provisioning (re-applies the current configuration with enabled=${enabled})`)
      .action((id: string) => s.run({ action: `${name} connection ${id}`, connectionId: id }, () => setEnabled(s, connId(id), enabled)));
  }
  connection
    .command('pause')
    .argument('<connectionId>')
    .option('--reason <text>', 'shown in status and events')
    .description('pause: changes are queued and none applied until resume')
    .action((id: string, opts: { reason?: string }) =>
      s.run({ action: `pause connection ${id}`, connectionId: id }, async () => {
        const reason = opts.reason === undefined ? undefined : arg(ReasonSchema, '--reason', opts.reason);
        await pauseConnection(await s.client(), connId(id), reason);
        s.out.result(() => [`connection ${id} paused${reason ? ` (${reason})` : ''}`], { connectionId: id, paused: true, ...(reason ? { reason } : {}) });
      }),
    );
  connection
    .command('resume')
    .argument('<connectionId>')
    .description('resume a paused connection')
    .action((id: string) =>
      s.run({ action: `resume connection ${id}`, connectionId: id }, async () => {
        await resumeConnection(await s.client(), connId(id));
        s.out.result(() => [`connection ${id} resumed`], { connectionId: id, paused: false });
      }),
    );

  connection
    .command('list')
    .option('--all', 'include deleted (completed) connections')
    .description('connections found by search attributes, with description, enabled and paused')
    .action((opts: { all?: boolean }) =>
      s.run({ action: 'list connections' }, async () => {
        const list = await listConnections(await s.client(), { all: opts.all === true });
        s.out.result(() => connectionListLines(list), list);
      }),
    );
  connection
    .command('delete')
    .argument('<connectionId>')
    .option('--yes', 'really delete: without it, nothing is sent')
    .option('--reason <text>', 'recorded in the audit trail')
    .description('delete a connection: every rule is deleted (its users released, or deprovisioned per deprovisionOnRuleDeletion, behind the deletion guard), then the connection ends')
    .action((id: string, opts: { yes?: boolean; reason?: string }) =>
      s.run({ action: `delete connection ${id}`, connectionId: id }, async () => {
        const connectionId = connId(id);
        if (!opts.yes) {
          throw usageError(
            `deleting connection ${connectionId} deletes each of its rules (releasing its users and groups, or deprovisioning them when userActions.deprovisionOnRuleDeletion is on) and ends it; run again with --yes`,
          );
        }
        const reason = opts.reason === undefined ? undefined : arg(ReasonSchema, '--reason', opts.reason);
        const result = await deleteConnection(await s.client(), connectionId, reason ? { reason } : {});
        s.out.result(
          () =>
            result.finished
              ? [`connection ${connectionId} deleted (no rules were left)`]
              : [`connection ${connectionId} is being deleted: ${result.deletionRuns.join(', ')}`, `it ends when these runs succeed; follow with: duo-sync status ${connectionId}`],
          { connectionId, ...result },
        );
      }),
    );

  // rule ...
  const rule = program.command('rule').description('add, replace or delete a rule of a connection');
  rule
    .command('upsert')
    .argument('<connectionId>')
    .argument('<file>', 'rule, YAML or JSON')
    .description('add a rule or replace the rule with the same id')
    .action((id: string, file: string) =>
      s.run({ action: `save the rule from ${file} on connection ${id}`, connectionId: id }, async () => {
        const parsedRule = await readRuleFile(file);
        const result = await upsertRule(await s.client(), connId(id), parsedRule);
        s.out.result(() => [`rule ${parsedRule.id} saved on connection ${id} (${result.rules} rules)`], { connectionId: id, ruleId: parsedRule.id, ...result });
      }),
    );
  rule
    .command('delete')
    .argument('<connectionId>')
    .argument('<ruleId>')
    .description('delete a rule; its users are deprovisioned or released per userActions.deprovisionOnRuleDeletion')
    .action((id: string, ruleId: string) =>
      s.run({ action: `delete rule ${ruleId} of connection ${id}`, connectionId: id }, async () => {
        const validRuleId = arg(SlugSchema, 'ruleId', ruleId);
        const result = await deleteRule(await s.client(), connId(id), validRuleId);
        s.out.result(() => [`rule ${ruleId} deleted; ${result.workflowId} handles its users`], { connectionId: id, ruleId, ...result });
      }),
    );

  // sync ...
  const sync = program.command('sync').description('run a full sync or reconcile one user now');
  sync
    .command('now')
    .argument('<connectionId>')
    .option('--dry-run', 'plan and count, change nothing in Duo')
    .option('--rule <ruleId>', 'only this rule (no deprovision pass)')
    .option('--reason <text>', 'recorded in the events')
    .option('--wait', 'follow the run to its end (progress bar), print its summary, exit 1 if it failed or was partial')
    .description('start a full sync (or join the running one) and optionally wait for it')
    .action((id: string, opts: { dryRun?: boolean; rule?: string; reason?: string; wait?: boolean }) =>
      s.run({ action: `sync connection ${id}`, connectionId: id }, async () => {
        const connectionId = connId(id);
        const request = {
          dryRun: opts.dryRun === true,
          ...(opts.rule !== undefined ? { ruleId: arg(SlugSchema, '--rule', opts.rule) } : {}),
          ...(opts.reason !== undefined ? { reason: arg(ReasonSchema, '--reason', opts.reason) } : {}),
        };
        const dsc = await s.client();
        const before = opts.wait ? await connectionStatus(dsc, connectionId) : undefined;
        const started = await syncNow(dsc, connectionId, request);
        if (!opts.wait || !before) {
          s.out.result(
            () => [started.queued ? `a full sync is running (${started.workflowId}); this request runs right after it` : `full sync ${started.workflowId} started`],
            started,
          );
          return ExitCode.ok;
        }
        const progress = !s.json;
        let workflowId = started.workflowId;
        let outcome = await waitForFullSync({ dsc, connectionId, workflowId, io: s.io, progress, pollMs: s.options.pollMs });
        if (started.queued && outcome.kind !== 'awaitingApproval') {
          if (!s.json) s.out.note(`${workflowId} was already running and has ended; waiting for the run of this request`);
          const known = new Set([workflowId, ...before.lastRuns.map((r) => r.workflowId)]);
          const next = await nextFullSync(dsc, connectionId, known, s.options.pollMs);
          if (!next) throw new CliError(`the queued full sync of connection ${connectionId} did not start within 2 minutes; see: duo-sync status ${connectionId}`, ExitCode.failed);
          workflowId = next;
          outcome = await waitForFullSync({ dsc, connectionId, workflowId, io: s.io, progress, pollMs: s.options.pollMs });
        }
        return reportWait(s, connectionId, workflowId, started.queued, outcome);
      }),
    );
  sync
    .command('user')
    .argument('<connectionId>')
    .argument('<username>')
    .description('reconcile one user now and print its summary (exit 1 if it failed)')
    .action((id: string, username: string) =>
      s.run({ action: `sync user ${username} of connection ${id}`, connectionId: id }, async () => {
        const change = { username: arg(UsernameSchema, 'username', username) };
        const summary = await syncUser(await s.client(), connId(id), change);
        s.out.result(() => [`user ${username} of connection ${id}:`, ...summaryLines(summary)], summary);
        return summary.failed > 0 ? ExitCode.failed : ExitCode.ok;
      }),
    );

  program
    .command('status')
    .argument('<connectionId>')
    .option('--runs <n>', 'how many recent runs to show', positiveInt, 10)
    .description('enabled, paused, connection test, rules, current run, last runs with counts, pending changes')
    .action((id: string, opts: { runs: number }) =>
      s.run({ action: `read the status of connection ${id}`, connectionId: id }, async () => {
        const status = await connectionStatus(await s.client(), connId(id));
        s.out.result(() => statusLines(status, opts.runs), status);
      }),
    );

  program
    .command('events')
    .argument('<connectionId>')
    .option('--limit <n>', 'how many of the most recent events', positiveInt, 20)
    .description('recent events of a connection, oldest first')
    .action((id: string, opts: { limit: number }) =>
      s.run({ action: `read the events of connection ${id}`, connectionId: id }, async () => {
        const events = (await connectionStatus(await s.client(), connId(id))).recentEvents.slice(-opts.limit);
        s.out.result(() => eventLines(events), events);
      }),
    );

  program
    .command('audit')
    .argument('<connectionId>')
    .option('--limit <n>', 'how many of the most recent entries', positiveInt, 50)
    .description('who changed what: configuration, rules, approvals, pause/resume, enable/disable, delete (oldest first)')
    .action((id: string, opts: { limit: number }) =>
      s.run({ action: `read the audit trail of connection ${id}`, connectionId: id }, async () => {
        const entries = await connectionAudit(await s.client(), connId(id), opts.limit);
        s.out.result(() => auditLines(entries), entries);
      }),
    );

  program
    .command('approve')
    .argument('<connectionId>')
    .argument('<runId>', 'the full sync workflow id awaiting approval, e.g. full-sync/acme/7')
    .requiredOption('--hash <deletionSetHash>', 'the deletion set shown by status; the decision is refused if the run planned another set')
    .option('--skip', 'drop the planned deletions instead of applying them')
    .description('approve (or skip) the deletions a guarded full sync is waiting on')
    .action((id: string, runId: string, opts: { hash: string; skip?: boolean }) =>
      s.run({ action: `${opts.skip ? 'skip' : 'approve'} deletions for run ${runId} of connection ${id}`, connectionId: id }, async () => {
        const request = {
          runId: arg(WorkflowIdSchema, 'runId', runId),
          decision: opts.skip ? ('skip' as const) : ('approve' as const),
          deletionSetHash: arg(HashSchema, '--hash', opts.hash),
        };
        const result = await approveDeletions(await s.client(), connId(id), request);
        s.out.result(() => [`deletions ${opts.skip ? 'skipped' : 'approved'} for ${result.forwardedTo}`], { connectionId: id, runId, decision: opts.skip ? 'skip' : 'approve', ...result });
      }),
    );

  program
    .command('restore')
    .argument('<connectionId>')
    .argument('<runId>', 'the finished run (full sync or rule deletion) whose trashed users to restore, e.g. full-sync/acme/7')
    .description("restore the users a run sent to Duo's Trash (removeAction trash; Duo purges them after 7 days)")
    .action((id: string, runId: string) =>
      s.run({ action: `restore the users run ${runId} of connection ${id} sent to Trash`, connectionId: id }, async () => {
        const result = await restoreDeletions(await s.client(), connId(id), arg(WorkflowIdSchema, 'runId', runId));
        s.out.result(
          () => [
            `restored ${result.restored} user(s) from Trash for ${result.runId} (${result.skipped} skipped: no longer in Trash or not this connection's; ${result.failed} failed)`,
            ...result.failures.map((f) => `  ${f.username}: ${f.message}`),
            ...(result.notListed > 0 ? [`  ${result.notListed} more trashed user(s) are not listed in the run: restore them in the Duo Admin Panel's Trash`] : []),
          ],
          { connectionId: id, ...result },
        );
        return result.failed > 0 ? ExitCode.failed : ExitCode.ok;
      }),
    );

  program
    .command('replay')
    .argument('<workflowId>')
    .option('--run-id <runId>', 'a specific run (default: the latest)')
    .option('--file <history.json>', 'replay a downloaded history (Web UI download or `temporal workflow show --output json`) instead of fetching it')
    .description('replay a history against the current workflow code: OK, or the non-determinism error (exit 1)')
    .action((workflowId: string, opts: { runId?: string; file?: string }) =>
      s.run({ action: `replay ${workflowId}` }, async () => {
        arg(WorkflowIdSchema, 'workflowId', workflowId);
        let runId = opts.runId;
        let history: Awaited<ReturnType<typeof readHistoryFile>>;
        if (opts.file !== undefined) {
          history = await readHistoryFile(opts.file);
        } else {
          const { client } = await s.client();
          runId ??= (await client.workflow.getHandle(workflowId).describe()).runId;
          history = await downloadHistory(client, workflowId, runId);
        }
        const source = opts.file ?? `run ${runId ?? '?'}`;
        const outcome = await replayHistory(history, workflowId, dataConverterFromConfig(s.processConfig()));
        if (outcome.ok) {
          s.out.result(() => [`replay OK: ${workflowId} (${source}, ${outcome.events} events) replays against the current workflow code`], { workflowId, runId: runId ?? null, ...outcome });
          return ExitCode.ok;
        }
        s.out.result(
          () => [`replay FAILED: ${workflowId} (${source}, ${outcome.events} events): ${outcome.nondeterministic ? 'non-determinism' : 'replay error'}`, outcome.message],
          { workflowId, runId: runId ?? null, ...outcome },
        );
        s.out.note(
          `duo-sync: ${workflowId} does not replay against the current code; ${outcome.nondeterministic ? 'guard the change with patched() or keep the old code path (docs/runbook.md)' : 'see the error above'}`,
        );
        return ExitCode.failed;
      }),
    );

  program
    .command('reset')
    .argument('<workflowId>')
    .option('--run-id <runId>', 'the run to reset (default: the latest)')
    .option('--event-id <n>', 'a WORKFLOW_TASK_COMPLETED event id to reset to', positiveInt)
    .addOption(new Option('--to <point>', 'reset point when --event-id is not given').choices(['before-failure', 'first', 'last']).default('before-failure'))
    .option('--reason <text>', 'recorded on the reset', 'reset with the duo-sync CLI')
    .addOption(new Option('--reapply <kind>', 'events after the reset point to re-apply to the new run').choices(['signal', 'none', 'all']).default('signal'))
    .description('reset a run to a workflow task (default: the last completed one before the first failure); prints the new run id')
    .action((workflowId: string, opts: { runId?: string; eventId?: number; to: ResetPoint; reason: string; reapply: Reapply }) =>
      s.run({ action: `reset ${workflowId}` }, async () => {
        arg(WorkflowIdSchema, 'workflowId', workflowId);
        const reason = arg(ReasonSchema, '--reason', opts.reason);
        const { client } = await s.client();
        const runId = opts.runId ?? (await client.workflow.getHandle(workflowId).describe()).runId;
        const history = await downloadHistory(client, workflowId, runId);
        const point = chooseResetEvent(history, opts.eventId !== undefined ? { eventId: opts.eventId } : { to: opts.to });
        const newRunId = await resetWorkflow(client, { workflowId, runId, eventId: point.eventId, reason, reapply: opts.reapply });
        s.out.result(
          () => [`reset ${workflowId} (run ${runId}) to event ${point.eventId}, ${point.why}; re-applied: ${opts.reapply}`, `new run: ${newRunId}`],
          { workflowId, runId, eventId: point.eventId, reapply: opts.reapply, newRunId },
        );
      }),
    );

  return { program, session: s };
}

/** Runs the CLI; returns the exit code. Writes only to `io`; never calls process.exit. */
export async function runCli(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }, env: NodeJS.ProcessEnv = process.env, options: CliOptions = {}): Promise<number> {
  const { program, session } = buildProgram(io, env, { pollMs: options.pollMs ?? 500 });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return session.exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    io.stderr.write(`duo-sync: ${err instanceof Error ? err.message : String(err)}\n`);
    return ExitCode.failed;
  } finally {
    await session.close();
  }
}

if (require.main === module) {
  void runCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
