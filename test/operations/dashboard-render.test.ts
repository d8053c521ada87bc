/**
 * The dashboard picture's renderer (scripts/dashboard) understands every panel of
 * deploy/grafana/duo-sync.json: each panel type and unit is one it draws, each target becomes a
 * PromQL query with no variable left, so `npm run docs:dashboard` cannot silently drop a panel when
 * the dashboard changes. No Prometheus needed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { allPanels, DashboardPlanError, DashboardSchema, legendOf, planDashboard, SUPPORTED_PANEL_TYPES, SUPPORTED_UNITS } from '../../scripts/dashboard/dashboard';

const root = resolve(__dirname, '../..');
const dashboardJson = (): unknown => JSON.parse(readFileSync(resolve(root, 'deploy/grafana/duo-sync.json'), 'utf8'));
const options = { rateInterval: '30s', range: '600s' };

describe('dashboard picture renderer', () => {
  it('plans every panel of deploy/grafana/duo-sync.json, every target a query with no variable left', () => {
    const json = dashboardJson();
    const panels = allPanels(DashboardSchema.parse(json));
    const planned = planDashboard(json, options);
    assert.equal(planned.length, panels.length, 'one planned panel per dashboard panel');
    assert.ok(planned.filter((p) => p.type !== 'row').length >= 10, 'the dashboard has charts');
    planned.forEach((p, i) => {
      const source = panels[i];
      assert.equal(p.title, source?.title);
      assert.equal(p.queries.length, (source?.targets ?? []).filter((t) => !t.hide).length, `${p.title}: every target is queried`);
      if (p.type !== 'row') assert.ok(p.queries.length > 0, `${p.title}: has queries`);
      for (const q of p.queries) {
        assert.doesNotMatch(q.expr, /\$|\[\[/, `${p.title}: ${q.expr} still holds a variable`);
        assert.match(q.expr, /\b(duo_sync|temporal)_\w+/, `${p.title}: ${q.expr} names a metric`);
      }
    });
    const connection = planned.flatMap((p) => p.queries).find((q) => q.expr.includes('connection_id=~'));
    assert.ok(connection?.expr.includes('connection_id=~".*"'), '$connection becomes its All value');
    assert.ok(planned.flatMap((p) => p.queries).some((q) => q.expr.includes('[30s]')), '$__rate_interval becomes the window');
  });

  it('page.js draws every supported panel type and formats every supported unit', () => {
    const page = readFileSync(resolve(root, 'scripts/dashboard/page.js'), 'utf8');
    for (const type of SUPPORTED_PANEL_TYPES) assert.ok(page.includes(`p.type === '${type}'`), `page.js draws ${type}`);
    for (const unit of SUPPORTED_UNITS) assert.ok(page.includes(`case '${unit}':`), `page.js formats ${unit}`);
  });

  it('refuses a panel type, unit or variable it does not know, naming the panel', () => {
    const panel = (extra: object) => ({ type: 'timeseries', title: 'P', gridPos: { h: 8, w: 12, x: 0, y: 0 }, targets: [{ expr: 'rate(duo_sync_runs_total[$__rate_interval])' }], ...extra });
    const dash = (p: object) => ({ title: 'd', panels: [p], templating: { list: [] } });
    assert.throws(() => planDashboard(dash(panel({ type: 'heatmap' })), options), (e: unknown) => e instanceof DashboardPlanError && /panel 1 "P": panel type "heatmap"/.test(e.message));
    assert.throws(() => planDashboard(dash(panel({ fieldConfig: { defaults: { unit: 'dtdurations' } } })), options), /unit "dtdurations"/);
    assert.throws(() => planDashboard(dash(panel({ targets: [{ expr: 'duo_sync_runs_total{connection_id=~"$tenant"}' }] })), options), /unknown variable \$tenant/);
    assert.throws(() => planDashboard(dash(panel({ targets: [] })), options), /without queries/);
  });

  it('fills legends the way Grafana does', () => {
    assert.equal(legendOf('{{kind}} {{outcome}}', { kind: 'fullSync', outcome: 'partial' }), 'fullSync partial');
    assert.equal(legendOf('', { __name__: 'up', job: 'w' }), 'up{job="w"}');
  });
});
