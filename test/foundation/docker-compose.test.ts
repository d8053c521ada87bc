import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';

// No Docker engine runs in CI, so the production shape is checked structurally instead.
const root = resolve(__dirname, '../..');
const ServiceSchema = z.object({
  image: z.string().optional(),
  build: z.unknown().optional(),
  environment: z.record(z.string(), z.string()).optional(),
  ports: z.array(z.string()).optional(),
  depends_on: z.record(z.string(), z.object({ condition: z.string() })).optional(),
  command: z.unknown().optional(),
  profiles: z.array(z.string()).optional(),
  secrets: z.array(z.string()).optional(),
  volumes: z.array(z.string()).optional(),
});
const ComposeSchema = z.object({
  services: z.record(z.string(), ServiceSchema),
  secrets: z.record(z.string(), z.object({ file: z.string() })).optional(),
  volumes: z.record(z.string(), z.unknown()).optional(),
});

describe('docker-compose.yml (production shape)', () => {
  const compose = ComposeSchema.parse(parse(readFileSync(resolve(root, 'docker-compose.yml'), 'utf8')));
  const service = (name: string) => {
    const s = compose.services[name];
    assert.ok(s, `service ${name} is missing`);
    return s;
  };

  it('runs Temporal on PostgreSQL', () => {
    assert.match(service('postgresql').image ?? '', /^postgres:\d+/);
    const temporal = service('temporal');
    assert.match(temporal.image ?? '', /^temporalio\/auto-setup:1\.29\./);
    assert.equal(temporal.environment?.DB, 'postgres12');
    assert.equal(temporal.environment?.POSTGRES_SEEDS, 'postgresql');
    assert.equal(temporal.depends_on?.postgresql?.condition, 'service_healthy');
    assert.ok(temporal.ports?.some((p) => p.endsWith(':7233')));
  });

  it('registers the custom search attributes the workflows set', () => {
    const cmd = JSON.stringify(service('temporal-setup').command);
    for (const name of ['DuoSyncConnection', 'DuoSyncKind', 'DuoSyncOutcome']) assert.ok(cmd.includes(name), `${name} not registered`);
  });

  it('serves the Web UI against the Temporal frontend', () => {
    const ui = service('temporal-ui');
    assert.match(ui.image ?? '', /^temporalio\/ui:/);
    assert.equal(ui.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.ok(ui.ports?.some((p) => p.endsWith(':8080')));
  });

  it('builds the worker from this repo and points it at Temporal, with secrets by reference', () => {
    const worker = service('worker');
    assert.ok(worker.build !== undefined, 'worker must be built from the Dockerfile');
    assert.equal(worker.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
    assert.equal(worker.environment?.TEMPORAL_TASK_QUEUE, 'duo-sync');
    assert.ok(worker.secrets?.includes('duo_secret_key'));
    const env = JSON.stringify(worker.environment);
    assert.ok(!/SKEY"|SECRET_KEY"|PASSWORD"/.test(env), 'no secret values in the worker environment');
    assert.ok(compose.secrets?.duo_secret_key?.file);
  });

  it('offers the Duo sandbox as an optional service', () => {
    const sandbox = service('duo-sandbox');
    assert.deepEqual(sandbox.profiles, ['sandbox']);
  });

  it('exposes the worker\'s two metrics ports to a Prometheus that scrapes both', () => {
    const worker = service('worker');
    const env = worker.environment ?? {};
    assert.equal(env.DUO_SYNC_METRICS_HOST, '0.0.0.0', 'reachable from the prometheus container');
    const prometheus = service('prometheus');
    assert.match(prometheus.image ?? '', /^prom\/prometheus:v\d+/);
    const mount = (prometheus.volumes ?? []).find((v) => v.endsWith(':/etc/prometheus/prometheus.yml:ro'));
    assert.ok(mount, 'prometheus.yml is mounted');
    const config = parse(readFileSync(resolve(root, mount.split(':')[0] ?? ''), 'utf8')) as { scrape_configs: { static_configs: { targets: string[] }[] }[] };
    const targets = config.scrape_configs.flatMap((c) => c.static_configs.flatMap((s) => s.targets));
    assert.deepEqual(targets.sort(), [`worker:${env.DUO_SYNC_METRICS_PORT}`, `worker:${env.DUO_SYNC_TEMPORAL_METRICS_PORT}`].sort());
  });

  it('runs Grafana with the provisioned Prometheus datasource and the duo-sync dashboard', () => {
    const grafana = service('grafana');
    assert.match(grafana.image ?? '', /^grafana\/grafana:\d+/);
    const mounts: Record<string, string> = Object.fromEntries((grafana.volumes ?? []).map((v) => [v.split(':')[1] ?? '', v.split(':')[0] ?? '']));
    const provisioning = mounts['/etc/grafana/provisioning'];
    assert.ok(provisioning, 'provisioning directory mounted');
    const datasources = parse(readFileSync(resolve(root, provisioning, 'datasources/prometheus.yaml'), 'utf8')) as { datasources: { uid: string; url: string }[] };
    assert.equal(datasources.datasources[0]?.url, 'http://prometheus:9090');
    const providers = parse(readFileSync(resolve(root, provisioning, 'dashboards/duo-sync.yaml'), 'utf8')) as { providers: { options: { path: string } }[] };
    const dashboardDir = providers.providers[0]?.options.path ?? '';
    const dashboardMount = Object.entries(mounts).find(([inside]) => inside.startsWith(`${dashboardDir}/`));
    assert.ok(dashboardMount, `a dashboard is mounted under ${dashboardDir}`);
    const dashboard = JSON.parse(readFileSync(resolve(root, dashboardMount[1]), 'utf8')) as { panels: { datasource?: { uid: string } }[] };
    const uids = new Set(dashboard.panels.flatMap((p) => (p.datasource ? [p.datasource.uid] : [])));
    assert.deepEqual([...uids], [datasources.datasources[0]?.uid], 'panels use the provisioned datasource');
  });

  it('keeps the audit file on a volume the worker may write', () => {
    const worker = service('worker');
    const file = worker.environment?.DUO_SYNC_AUDIT_FILE ?? '';
    assert.ok(file.startsWith('/var/lib/duo-sync/audit/'));
    assert.ok(worker.volumes?.some((v) => v.endsWith(':/var/lib/duo-sync/audit')));
    assert.match(readFileSync(resolve(root, 'Dockerfile'), 'utf8'), /chown node:node \/var\/lib\/duo-sync\/audit/);
  });

  it('has a Dockerfile whose runtime stage starts the compiled worker', () => {
    const dockerfile = readFileSync(resolve(root, 'Dockerfile'), 'utf8');
    assert.match(dockerfile, /CMD \["node", "lib\/worker\.js"\]/);
    assert.match(dockerfile, /USER node/);
  });
});
