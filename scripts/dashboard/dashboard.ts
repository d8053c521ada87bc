/**
 * What the dashboard picture's renderer understands of a Grafana dashboard JSON
 * (deploy/grafana/duo-sync.json): its panels, their grid positions, units and targets, and the
 * template variables to substitute. Pure: `planDashboard` turns the JSON into the PromQL queries to
 * run and the panels to draw, and refuses what it cannot draw (an unknown panel type or unit, a
 * variable left in a query), so the picture cannot silently drop a panel when the dashboard changes.
 */
import { z } from 'zod';

/** Panel types the renderer draws (scripts/dashboard/page.js); a dashboard using another fails planning. */
export const SUPPORTED_PANEL_TYPES = ['row', 'timeseries', 'stat'] as const;
export type PanelType = (typeof SUPPORTED_PANEL_TYPES)[number];

/** Grafana units the renderer formats (page.js `formatValue`); others fail planning. */
export const SUPPORTED_UNITS = ['short', 'none', 's', 'ms', 'reqps', 'ops', 'bytes', 'percent', 'percentunit'] as const;
export type Unit = (typeof SUPPORTED_UNITS)[number];

const GridPosSchema = z.object({ h: z.number().int().positive(), w: z.number().int().min(1).max(24), x: z.number().int().min(0).max(23), y: z.number().int().min(0) });

const TargetSchema = z.looseObject({
  refId: z.string().optional(),
  expr: z.string().min(1, 'a target without a PromQL expr'),
  legendFormat: z.string().optional(),
  instant: z.boolean().optional(),
  hide: z.boolean().optional(),
});

const ThresholdsSchema = z.object({ steps: z.array(z.object({ color: z.string(), value: z.number().nullable() })).min(1) });

interface RawPanel {
  type: string;
  title: string;
  gridPos: z.infer<typeof GridPosSchema>;
  targets: z.infer<typeof TargetSchema>[];
  description?: string | undefined;
  fieldConfig?: { defaults?: { unit?: string | undefined; decimals?: number | undefined; thresholds?: z.infer<typeof ThresholdsSchema> | undefined } | undefined } | undefined;
  options?: Record<string, unknown> | undefined;
  panels?: RawPanel[] | undefined;
}

const PanelSchema: z.ZodType<RawPanel> = z.lazy(() =>
  z.looseObject({
    type: z.string().min(1),
    title: z.string().default(''),
    gridPos: GridPosSchema,
    targets: z.array(TargetSchema).default([]),
    description: z.string().optional(),
    fieldConfig: z
      .looseObject({ defaults: z.looseObject({ unit: z.string().optional(), decimals: z.number().optional(), thresholds: ThresholdsSchema.optional() }).optional() })
      .optional(),
    options: z.record(z.string(), z.unknown()).optional(),
    panels: z.array(PanelSchema).optional(),
  }),
);

const VariableSchema = z.looseObject({
  name: z.string().regex(/^\w+$/),
  type: z.string(),
  includeAll: z.boolean().optional(),
  allValue: z.string().optional(),
  query: z.union([z.string(), z.looseObject({ query: z.string() })]).optional(),
});

export const DashboardSchema = z.looseObject({
  title: z.string(),
  panels: z.array(PanelSchema),
  templating: z.object({ list: z.array(VariableSchema) }).default({ list: [] }),
});
export type Dashboard = z.infer<typeof DashboardSchema>;

export interface PlannedQuery {
  refId: string;
  /** PromQL with every variable substituted. */
  expr: string;
  /** Grafana legend template, `{{label}}` placeholders; empty = the series' labels. */
  legendFormat: string;
}

export interface PlannedPanel {
  type: PanelType;
  title: string;
  description?: string;
  gridPos: { h: number; w: number; x: number; y: number };
  unit: Unit;
  decimals?: number;
  /** Stat panels show one value per series: the last one (Grafana's `lastNotNull`), from an instant query. */
  instant: boolean;
  /** Thresholds for stat colours (Grafana's default when the panel has none: green, red from 80). */
  thresholds: { color: string; value: number | null }[];
  colorMode: 'background' | 'value' | 'none';
  queries: PlannedQuery[];
}

export interface PlanOptions {
  /** Value of Grafana's `$__rate_interval` (and `$__interval`), a PromQL duration like `30s`. */
  rateInterval: string;
  /** Value of `$__range`, a PromQL duration. */
  range: string;
  /** Values of the dashboard's own variables; a variable not given takes its "All" value. */
  variables?: Record<string, string>;
}

export class DashboardPlanError extends Error {
  override name = 'DashboardPlanError';
}

const GRAFANA_DEFAULT_THRESHOLDS = [
  { color: 'green', value: null },
  { color: 'red', value: 80 },
];

/** Every panel, rows' nested (collapsed) panels included, in reading order. */
export function allPanels(dashboard: Dashboard): RawPanel[] {
  return dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** The value each template variable takes in the picture: what the caller gives, else its "All" value. */
export function variableValues(dashboard: Dashboard, options: PlanOptions): Record<string, string> {
  const values: Record<string, string> = { __rate_interval: options.rateInterval, __interval: options.rateInterval, __range: options.range };
  for (const v of dashboard.templating.list) {
    const given = options.variables?.[v.name];
    if (given !== undefined) values[v.name] = given;
    else if (v.includeAll) values[v.name] = v.allValue ?? '.*';
    else throw new DashboardPlanError(`dashboard variable $${v.name} has no "All" value: give it a value for the picture`);
  }
  return values;
}

/** Substitutes `$name`, `${name}` (with or without `:format`) and `[[name]]`; throws naming what is left unknown. */
export function substitute(expr: string, values: Record<string, string>, where: string): string {
  const out = expr.replace(/\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)/g, (match, braced?: string, bracketed?: string, bare?: string) => {
    const name = (braced ?? bracketed ?? bare) as string;
    const value = values[name];
    if (value === undefined) throw new DashboardPlanError(`${where}: unknown variable ${match} in query ${expr}`);
    return value;
  });
  return out;
}

function isSupported<T extends string>(list: readonly T[], value: string): value is T {
  return (list as readonly string[]).includes(value);
}

/** Plans every panel: fails on a panel type, unit or variable the renderer does not know. */
export function planDashboard(json: unknown, options: PlanOptions): PlannedPanel[] {
  const parsed = DashboardSchema.safeParse(json);
  if (!parsed.success) throw new DashboardPlanError(`not a dashboard the renderer understands: ${z.prettifyError(parsed.error)}`);
  const dashboard = parsed.data;
  const values = variableValues(dashboard, options);
  return allPanels(dashboard).map((panel, i) => {
    const where = `panel ${i + 1} "${panel.title}"`;
    if (!isSupported(SUPPORTED_PANEL_TYPES, panel.type)) {
      throw new DashboardPlanError(`${where}: panel type "${panel.type}" is not drawn by scripts/dashboard/page.js (supported: ${SUPPORTED_PANEL_TYPES.join(', ')}); teach the renderer or change the panel`);
    }
    const type = panel.type;
    const unit = panel.fieldConfig?.defaults?.unit ?? 'short';
    if (!isSupported(SUPPORTED_UNITS, unit)) throw new DashboardPlanError(`${where}: unit "${unit}" is not formatted by the renderer (supported: ${SUPPORTED_UNITS.join(', ')})`);
    const targets = panel.targets.filter((t) => !t.hide);
    if (type !== 'row' && targets.length === 0) throw new DashboardPlanError(`${where}: a ${type} panel without queries`);
    const colorMode = panel.options?.['colorMode'];
    const decimals = panel.fieldConfig?.defaults?.decimals;
    return {
      type,
      title: panel.title,
      ...(panel.description ? { description: panel.description } : {}),
      gridPos: panel.gridPos,
      unit,
      ...(decimals === undefined ? {} : { decimals }),
      instant: type === 'stat',
      thresholds: panel.fieldConfig?.defaults?.thresholds?.steps ?? GRAFANA_DEFAULT_THRESHOLDS,
      colorMode: colorMode === 'background' || colorMode === 'none' ? colorMode : 'value',
      queries: targets.map((t, j) => ({
        refId: t.refId ?? String.fromCharCode(65 + j),
        expr: substitute(t.expr, values, where),
        legendFormat: t.legendFormat ?? '',
      })),
    };
  });
}

/** A series' legend: Grafana's `{{label}}` template filled from its labels, or the label set when there is none. */
export function legendOf(legendFormat: string, labels: Record<string, string>): string {
  if (legendFormat === '' || legendFormat === '__auto') {
    const { __name__: name, ...rest } = labels;
    const inner = Object.entries(rest).map(([k, v]) => `${k}="${v}"`).join(', ');
    return `${name ?? ''}${inner ? `{${inner}}` : ''}` || 'value';
  }
  return legendFormat.replace(/\{\{\s*(\w+)\s*\}\}/g, (_m, label: string) => labels[label] ?? '').trim();
}
