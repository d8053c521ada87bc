// Browser side of the dashboard picture (scripts/dashboard/render.ts inlines it with uPlot and the
// data). Draws each planned panel at its Grafana gridPos in a dark, Grafana-like page: rows as
// headers, timeseries as uPlot line charts with a legend, stats as coloured value tiles. Units and
// panel types must match SUPPORTED_UNITS / SUPPORTED_PANEL_TYPES in scripts/dashboard/dashboard.ts.
/* global uPlot */
(function () {
  'use strict';
  const data = JSON.parse(document.getElementById('data').textContent);
  const root = document.getElementById('dashboard');
  const WIDTH = document.documentElement.clientWidth;
  // Grafana's grid: 24 columns, 30 px cells, 8 px gaps; a little tighter here (26 and 6) so the
  // PNG stays small.
  const CELL = 26;
  const GAP = 6;
  const HEADER = 56;
  const colW = (WIDTH - GAP) / 24;
  const PALETTE = ['#73BF69', '#F2CC0C', '#8AB8FF', '#FF780A', '#F2495C', '#5794F2', '#B877D9', '#FADE2A', '#37872D', '#FF9830', '#C4162A', '#1F60C4', '#8F3BB8', '#96D98D', '#FFB357', '#CA95E5'];
  const NAMED = { green: '#73BF69', red: '#F2495C', yellow: '#FADE2A', orange: '#FF9830', blue: '#5794F2', purple: '#B877D9' };

  const style = document.createElement('style');
  style.textContent = `
    html, body { margin: 0; background: #111217; color: #ccccdc; font: 13px/1.4 Inter, "Helvetica Neue", Arial, sans-serif; }
    #dashboard { position: relative; width: ${WIDTH}px; }
    .top { position: absolute; left: ${GAP}px; top: 10px; right: ${GAP}px; display: flex; align-items: baseline; gap: 14px; }
    .top h1 { font-size: 18px; font-weight: 500; margin: 0; color: #e0e0ec; }
    .top .sub { color: #8e8ea0; font-size: 12px; }
    .top .vars { margin-left: auto; color: #8e8ea0; font-size: 12px; }
    .top .vars b { color: #ccccdc; font-weight: 500; background: #22252b; border: 1px solid #2f3239; padding: 2px 8px; border-radius: 2px; }
    .panel { position: absolute; box-sizing: border-box; background: #181b1f; border: 1px solid #24262c; border-radius: 2px; overflow: hidden; }
    .panel .title { height: 30px; line-height: 30px; padding: 0 8px; font-weight: 500; font-size: 13px; color: #ccccdc; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .row { position: absolute; box-sizing: border-box; font-size: 15px; font-weight: 500; color: #e0e0ec; line-height: ${CELL}px; padding-left: 2px; }
    .row::before { content: "\\25BE  "; color: #8e8ea0; }
    .legend { position: absolute; left: 8px; right: 8px; bottom: 4px; display: flex; flex-wrap: wrap; gap: 0 14px; font-size: 11.5px; color: #ccccdc; overflow: hidden; }
    .legend span { white-space: nowrap; }
    .legend i { display: inline-block; width: 14px; height: 4px; border-radius: 2px; margin-right: 5px; vertical-align: middle; }
    .nodata { position: absolute; left: 0; right: 0; top: 45%; text-align: center; color: #8e8ea0; font-size: 15px; }
    .stats { position: absolute; left: 8px; right: 8px; top: 32px; bottom: 8px; display: flex; flex-direction: column; gap: 6px; }
    .stat { flex: 1; border-radius: 2px; display: flex; flex-direction: column; justify-content: center; padding: 0 10px; min-height: 0; }
    .stat .name { font-size: 12px; color: #ffffffcc; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
    .stat .value { font-size: 30px; font-weight: 500; color: #fff; line-height: 1.1; }
    .uplot { font-family: inherit; }
    .u-axis { color: #ccccdc; }
  `;
  document.head.appendChild(style);

  function trim(n, digits) {
    return String(Number(n.toFixed(digits)));
  }
  function short(v) {
    const a = Math.abs(v);
    if (a >= 1e9) return trim(v / 1e9, 2) + ' Bil';
    if (a >= 1e6) return trim(v / 1e6, 2) + ' Mil';
    if (a >= 1e3) return trim(v / 1e3, 2) + ' K';
    if (a === 0) return '0';
    if (a < 0.01) return trim(v, 4);
    return trim(v, a < 10 ? 2 : 1);
  }
  function seconds(v) {
    const a = Math.abs(v);
    if (a === 0) return '0 s';
    if (a < 0.001) return trim(v * 1e6, 0) + ' µs';
    if (a < 1) return trim(v * 1000, a < 0.01 ? 2 : 0) + ' ms';
    if (a < 60) return trim(v, 2) + ' s';
    if (a < 3600) return trim(v / 60, 1) + ' min';
    return trim(v / 3600, 1) + ' hour';
  }
  function bytes(v) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return trim(v, 1) + ' ' + units[i];
  }
  function formatValue(v, unit, decimals) {
    if (v === null || v === undefined || Number.isNaN(v)) return 'No data';
    if (decimals !== undefined && (unit === 'short' || unit === 'none')) return v.toFixed(decimals);
    switch (unit) {
      case 'short':
      case 'none':
        return short(v);
      case 's':
        return seconds(v);
      case 'ms':
        return seconds(v / 1000);
      case 'reqps':
        return short(v) + ' req/s';
      case 'ops':
        return short(v) + ' ops/s';
      case 'bytes':
        return bytes(v);
      case 'percent':
        return trim(v, 1) + '%';
      case 'percentunit':
        return trim(v * 100, 1) + '%';
      default:
        throw new Error('unit ' + unit + ' is not supported by page.js');
    }
  }
  function colorOf(name) {
    return NAMED[name] || name;
  }
  function thresholdColor(v, steps) {
    let color = steps[0].color;
    for (const s of steps) if (s.value === null || (v !== null && v >= s.value)) color = s.color;
    return colorOf(color);
  }
  function box(p) {
    const g = p.gridPos;
    return { left: GAP + g.x * colW, top: HEADER + g.y * (CELL + GAP), width: g.w * colW - GAP, height: g.h * CELL + (g.h - 1) * GAP };
  }
  function place(el, b) {
    el.style.left = b.left + 'px';
    el.style.top = b.top + 'px';
    el.style.width = b.width + 'px';
    el.style.height = b.height + 'px';
  }
  function panelShell(p, b) {
    const el = document.createElement('div');
    el.className = 'panel';
    place(el, b);
    const t = document.createElement('div');
    t.className = 'title';
    t.textContent = p.title;
    el.appendChild(t);
    root.appendChild(el);
    return el;
  }

  function noData(el) {
    const n = document.createElement('div');
    n.className = 'nodata';
    n.textContent = 'No data';
    el.appendChild(n);
  }

  function drawTimeseries(p, b) {
    const el = panelShell(p, b);
    const series = p.series.filter((s) => s.values.some((v) => v !== null));
    if (series.length === 0) {
      noData(el);
      return;
    }
    const legend = document.createElement('div');
    legend.className = 'legend';
    series.forEach((s, i) => {
      const item = document.createElement('span');
      const sw = document.createElement('i');
      sw.style.background = PALETTE[i % PALETTE.length];
      item.appendChild(sw);
      item.appendChild(document.createTextNode(s.name));
      legend.appendChild(item);
    });
    el.appendChild(legend);
    // Lines without fill, as Grafana's default (fillOpacity 0). The legend is measured after layout and,
    // as Grafana's bottom legend, takes up to 35% of the panel; the chart takes the rest.
    const legendH = Math.min(legend.scrollHeight, Math.floor((b.height * 0.35) / 17) * 17) + 6;
    legend.style.maxHeight = legendH - 6 + 'px';
    const host = document.createElement('div');
    host.style.position = 'absolute';
    host.style.left = '0px';
    host.style.top = '30px';
    el.appendChild(host);
    const fmt = (v) => formatValue(v, p.unit, p.decimals);
    const axisStyle = { stroke: '#8e8ea0', grid: { stroke: 'rgba(204,204,220,0.07)', width: 1 }, ticks: { stroke: 'rgba(204,204,220,0.07)', width: 1 }, font: '11px Inter, Arial, sans-serif' };
    new uPlot(
      {
        width: b.width - 2,
        height: b.height - 30 - legendH,
        legend: { show: false },
        cursor: { show: false },
        padding: [6, 12, 0, 4],
        scales: { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] } },
        axes: [Object.assign({}, axisStyle, { space: 70 }), Object.assign({}, axisStyle, { size: 66, values: (u, vals) => vals.map(fmt) })],
        series: [{}].concat(
          series.map((s, i) => ({
            label: s.name,
            stroke: PALETTE[i % PALETTE.length],
            width: 1.5,
            points: { show: false },
            spanGaps: false,
          })),
        ),
      },
      [data.xs].concat(series.map((s) => s.values)),
      host,
    );
  }

  function drawStat(p, b) {
    const el = panelShell(p, b);
    if (p.stats.length === 0) {
      noData(el);
      return;
    }
    const wrap = document.createElement('div');
    wrap.className = 'stats';
    for (const s of p.stats) {
      const tile = document.createElement('div');
      tile.className = 'stat';
      const color = thresholdColor(s.value, p.thresholds);
      if (p.colorMode === 'background') tile.style.background = `linear-gradient(120deg, ${color}cc, ${color})`;
      const name = document.createElement('div');
      name.className = 'name';
      name.textContent = s.name;
      const value = document.createElement('div');
      value.className = 'value';
      value.textContent = formatValue(s.value, p.unit, p.decimals === undefined && Number.isInteger(s.value) ? 0 : p.decimals);
      if (p.colorMode === 'value') value.style.color = color;
      tile.appendChild(name);
      tile.appendChild(value);
      wrap.appendChild(tile);
    }
    el.appendChild(wrap);
  }

  const top = document.createElement('div');
  top.className = 'top';
  const h1 = document.createElement('h1');
  h1.textContent = data.title;
  const sub = document.createElement('span');
  sub.className = 'sub';
  sub.textContent = data.subtitle;
  const vars = document.createElement('span');
  vars.className = 'vars';
  vars.innerHTML = 'connection <b>All</b> &nbsp; $__rate_interval <b></b>';
  vars.querySelectorAll('b')[1].textContent = data.rateInterval;
  top.appendChild(h1);
  top.appendChild(sub);
  top.appendChild(vars);
  root.appendChild(top);

  let bottom = 0;
  for (const p of data.panels) {
    const b = box(p);
    bottom = Math.max(bottom, b.top + b.height);
    if (p.type === 'row') {
      const r = document.createElement('div');
      r.className = 'row';
      place(r, b);
      r.textContent = p.title;
      root.appendChild(r);
    } else if (p.type === 'timeseries') drawTimeseries(p, b);
    else if (p.type === 'stat') drawStat(p, b);
    else throw new Error('panel type ' + p.type + ' is not supported by page.js');
  }
  root.style.height = bottom + GAP + 'px';
  root.dataset.rendered = 'true';
})();
