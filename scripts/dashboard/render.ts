/**
 * Draws deploy/grafana/duo-sync.json from a live Prometheus into a PNG, the way Grafana would lay it
 * out: each panel at its gridPos with its title, legend, unit and type, in a dark page. Grafana itself
 * is AGPL and neither a Debian nor an npm package, so the docs' picture comes from this renderer;
 * `docker compose up` runs real Grafana with the same JSON.
 *
 * Queries run against Prometheus' HTTP API (`query_range` for time series, `query` at the end time
 * for stat panels); the page charts them with uPlot (scripts/dashboard/page.js) and headless
 * Debian Chromium (playwright-core, as the Web UI screenshots) takes the picture. uPlot (MIT, one
 * small file, no dependencies, pinned devDependency) does the time axes, tick spacing and scaling
 * that hand-drawn canvas code would have to get right for every unit.
 *
 * Alone: `node -r ts-node/register/transpile-only scripts/dashboard/render.ts --prometheus URL
 * --minutes N --out FILE` re-draws from a Prometheus that already holds the data.
 */
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { z } from 'zod';
import { legendOf, planDashboard, type PlannedPanel } from './dashboard';

const root = resolve(__dirname, '../..');
export const DASHBOARD_PATH = resolve(root, 'deploy/grafana/duo-sync.json');

const SampleSchema = z.tuple([z.number(), z.string()]);
const ApiSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('success'),
    data: z.discriminatedUnion('resultType', [
      z.object({ resultType: z.literal('matrix'), result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(SampleSchema) })) }),
      z.object({ resultType: z.literal('vector'), result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: SampleSchema })) }),
      z.object({ resultType: z.literal('scalar'), result: SampleSchema }),
    ]),
  }),
  z.object({ status: z.literal('error'), errorType: z.string(), error: z.string() }),
]);

type Series = { name: string; values: (number | null)[] };
type StatValue = { name: string; value: number | null };
export type PanelData = PlannedPanel & { series: Series[]; stats: StatValue[] };

export interface RenderWindow {
  /** Unix seconds. */
  start: number;
  end: number;
  /** Seconds between points. */
  step: number;
}

const num = (s: string): number | null => {
  const n = Number(s);
  return Number.isFinite(n) ? n : null;
};

async function promQuery(prometheusUrl: string, path: string, params: Record<string, string>, what: string): Promise<z.infer<typeof ApiSchema>> {
  const url = `${prometheusUrl}/api/v1/${path}?${new URLSearchParams(params).toString()}`;
  const res = await fetch(url);
  const parsed = ApiSchema.safeParse(await res.json());
  if (!parsed.success) throw new Error(`${what}: Prometheus answered HTTP ${res.status} with something that is not a query result`);
  if (parsed.data.status === 'error') throw new Error(`${what}: Prometheus rejected ${params['query']}: ${parsed.data.errorType}: ${parsed.data.error}`);
  return parsed.data;
}

/** Runs every panel's queries; time series are aligned on the window's steps (null where a series has no point). */
export async function queryPanels(prometheusUrl: string, panels: PlannedPanel[], window: RenderWindow): Promise<{ xs: number[]; panels: PanelData[] }> {
  const xs: number[] = [];
  for (let t = window.start; t <= window.end; t += window.step) xs.push(t);
  const index = new Map(xs.map((t, i) => [t, i]));
  const out: PanelData[] = [];
  for (const panel of panels) {
    const series: Series[] = [];
    const stats: StatValue[] = [];
    for (const q of panel.queries) {
      const what = `panel "${panel.title}" query ${q.refId}`;
      if (panel.instant) {
        const r = await promQuery(prometheusUrl, 'query', { query: q.expr, time: String(window.end) }, what);
        if (r.status !== 'success') continue;
        if (r.data.resultType === 'vector') for (const s of r.data.result) stats.push({ name: legendOf(q.legendFormat, s.metric), value: num(s.value[1]) });
        else if (r.data.resultType === 'scalar') stats.push({ name: q.legendFormat || 'value', value: num(r.data.result[1]) });
      } else {
        const r = await promQuery(prometheusUrl, 'query_range', { query: q.expr, start: String(window.start), end: String(window.end), step: String(window.step) }, what);
        if (r.status !== 'success' || r.data.resultType !== 'matrix') continue;
        for (const s of r.data.result) {
          const values: (number | null)[] = xs.map(() => null);
          for (const [t, v] of s.values) {
            const i = index.get(t);
            if (i !== undefined) values[i] = num(v);
          }
          series.push({ name: legendOf(q.legendFormat, s.metric), values });
        }
      }
    }
    series.sort((a, b) => a.name.localeCompare(b.name));
    stats.sort((a, b) => a.name.localeCompare(b.name));
    out.push({ ...panel, series, stats });
  }
  return { xs, panels: out };
}

export interface RenderOptions {
  prometheusUrl: string;
  window: RenderWindow;
  /** Grafana's `$__rate_interval` for the picture, e.g. `30s`. */
  rateInterval: string;
  out: string;
  chromiumPath: string;
  /** Page width in CSS pixels (the grid's 24 columns share it). */
  width?: number;
  /** Subtitle under the dashboard title (what the data is). */
  subtitle?: string;
}

export interface RenderResult {
  panels: number;
  /** Titles of the non-row panels that had data, and of those that had none. */
  withData: string[];
  empty: string[];
  bytes: number;
}

export async function renderDashboard(options: RenderOptions): Promise<RenderResult> {
  const json: unknown = JSON.parse(readFileSync(DASHBOARD_PATH, 'utf8'));
  const planned = planDashboard(json, { rateInterval: options.rateInterval, range: `${Math.round(options.window.end - options.window.start)}s` });
  const { xs, panels } = await queryPanels(options.prometheusUrl, planned, options.window);
  const title = z.object({ title: z.string() }).parse(json).title;
  const width = options.width ?? 1600;
  const data = { title, subtitle: options.subtitle ?? '', rateInterval: options.rateInterval, xs, panels };
  // The data goes in as JSON inside a <script type="application/json">: `</` is escaped so no label can end the script.
  const html = `<!doctype html><html><head><meta charset="utf-8"><style>${readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8')}</style></head>
<body><div id="dashboard"></div>
<script type="application/json" id="data">${JSON.stringify(data).replace(/</g, '\\u003c')}</script>
<script>${readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8')}</script>
<script>${readFileSync(resolve(__dirname, 'page.js'), 'utf8')}</script></body></html>`;
  const browser = await chromium.launch({ executablePath: options.chromiumPath, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width, height: 900 }, deviceScaleFactor: 1 });
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    await page.setContent(html, { waitUntil: 'load' });
    await page.waitForSelector('#dashboard[data-rendered="true"]', { timeout: 30_000 }).catch(() => {
      throw new Error(`the dashboard page did not finish drawing${errors.length ? `: ${errors.join('; ')}` : ''}`);
    });
    if (errors.length) throw new Error(`the dashboard page failed: ${errors.join('; ')}`);
    await page.locator('#dashboard').screenshot({ path: options.out, type: 'png' });
  } finally {
    await browser.close();
  }
  const charts = panels.filter((p) => p.type !== 'row');
  const hasData = (p: PanelData) => p.stats.length > 0 || p.series.some((s) => s.values.some((v) => v !== null));
  return {
    panels: charts.length,
    withData: charts.filter(hasData).map((p) => p.title),
    empty: charts.filter((p) => !hasData(p)).map((p) => p.title),
    bytes: statSync(options.out).size,
  };
}

if (require.main === module) {
  const { values } = parseArgs({
    options: {
      prometheus: { type: 'string' },
      minutes: { type: 'string', default: '10' },
      step: { type: 'string', default: '2' },
      'rate-interval': { type: 'string', default: '30s' },
      out: { type: 'string', default: resolve(root, 'docs/images/dashboard.png') },
      chromium: { type: 'string', default: process.env['DUO_SYNC_CHROMIUM'] ?? '/usr/bin/chromium' },
    },
  });
  const args = z
    .object({ prometheus: z.url(), minutes: z.coerce.number().positive(), step: z.coerce.number().positive(), 'rate-interval': z.string().regex(/^\d+[smh]$/), out: z.string(), chromium: z.string() })
    .parse(values);
  const end = Math.floor(Date.now() / 1000);
  renderDashboard({ prometheusUrl: args.prometheus.replace(/\/$/, ''), window: { start: end - args.minutes * 60, end, step: args.step }, rateInterval: args['rate-interval'], out: args.out, chromiumPath: args.chromium })
    .then((r) => console.log(`${args.out}: ${r.panels} panels, ${r.withData.length} with data, ${(r.bytes / 1024).toFixed(0)} KB${r.empty.length ? `; empty: ${r.empty.join(', ')}` : ''}`))
    .catch((err: unknown) => {
      console.error(`render: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
}
