/**
 * The report's browser code. It is inlined into the HTML as `(${reportClient.toString()})()`,
 * so it must be self-contained: no imports, no references to anything outside the function.
 *
 * It reads the JSON block #report-data and draws the charts with ECharts (inlined before it).
 * Untrusted strings (op names, module paths) reach the page only as ECharts option values,
 * which the canvas renderer draws as text, and through tooltip formatters that escape them
 * (ECharts tooltips are HTML). Nothing is written with innerHTML.
 */

/* eslint-disable @typescript-eslint/no-explicit-any */
declare const echarts: any;
/** shared/sweep-heatmap.ts sweepHeatmapOption, inlined before this function by render.ts. */
declare const memoplanSweepOption: (sweep: any, panel: number, current: number | null) => any;

export function reportClient(): void {
  const dataEl = document.getElementById('report-data');
  if (!dataEl) return;
  const D: any = JSON.parse(dataEl.textContent || '{}');
  const PALETTE = ['#5470c6', '#91cc75', '#fac858', '#ee6666', '#73c0de', '#3ba272', '#fc8452', '#9a60b4', '#ea7ccc', '#2f4554', '#61a0a8', '#bda29a', '#999999'];

  const esc = (v: unknown): string =>
    String(v ?? '').replace(/[&<>"'`]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;', '`': '&#96;' })[c] as string);
  const fmtBytes = (n: number | null | undefined): string => {
    if (n === null || n === undefined || !Number.isFinite(n)) return '–';
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = Math.abs(n);
    let u = 0;
    while (v >= 1024 && u < units.length - 1) {
      v /= 1024;
      u++;
    }
    return (n < 0 ? '-' : '') + (u === 0 ? String(Math.round(v)) : v.toFixed(v >= 100 ? 0 : v >= 10 ? 1 : 2)) + ' ' + units[u];
  };
  const fmtInt = (n: number | null | undefined): string => (n === null || n === undefined || !Number.isFinite(n) ? '–' : Math.round(n).toLocaleString('en-US'));
  const ms = (ns: number | null | undefined): number | null => (ns === null || ns === undefined ? null : ns / 1e6);
  const fmtMs = (v: number | null | undefined): string => (v === null || v === undefined || !Number.isFinite(v) ? '–' : v.toFixed(3) + ' ms');
  const row = (k: string, v: string): string => `${esc(k)}: <b>${esc(v)}</b>`;

  const charts: any[] = [];
  let failed = 0;
  function draw(id: string, build: () => any): any {
    const el = document.getElementById(id);
    if (!el) return null;
    try {
      const chart = echarts.init(el, null, { renderer: 'canvas' });
      chart.setOption(build());
      charts.push(chart);
      return chart;
    } catch (err) {
      failed++;
      el.textContent = 'This chart could not be drawn: ' + String((err as Error)?.message ?? err);
      console.error('memoplan report: chart ' + id + ' failed', err);
      return null;
    }
  }
  const baseTooltip = { confine: true, appendToBody: false };
  const zoom = (xIndex: number[] = [0]) => [
    { type: 'inside', xAxisIndex: xIndex, filterMode: 'none' },
    { type: 'slider', xAxisIndex: xIndex, filterMode: 'none', height: 18, bottom: 4 },
  ];

  // Memory over time
  const tl = D.timeline;
  if (tl && tl.t0.length) {
    // Seconds since the session's clock base, as the UI's Memory view and memoplan top say.
    const xs = tl.t1.map((t: number) => t / 1e9);
    const secs = (ns: number) => `${(ns / 1e9).toFixed(ns > 0 && tl.t1[0] - tl.t0[0] < 1e6 ? 6 : 3)} s`;
    draw('chart-timeline', () => ({
      animation: false,
      legend: { top: 0 },
      grid: { left: 80, right: 70, top: 30, bottom: 60 },
      tooltip: {
        ...baseTooltip,
        trigger: 'axis',
        formatter: (ps: any[]) => {
          const i = ps[0].dataIndex;
          return [
            row('bucket', `${secs(tl.t0[i])} – ${secs(tl.t1[i])}`),
            row('live bytes, max', fmtBytes(tl.liveMax[i])),
            row('live bytes, end', fmtBytes(tl.liveEnd[i])),
            row('allocations / frees', `${fmtInt(tl.allocs[i])} / ${fmtInt(tl.frees[i])}`),
            row('bytes allocated', fmtBytes(tl.bytes[i])),
          ].join('<br>');
        },
      },
      xAxis: { type: 'value', name: 's', nameLocation: 'middle', nameGap: 26, min: tl.t0[0] / 1e9, max: xs[xs.length - 1], axisLabel: { showMinLabel: false, showMaxLabel: false } },
      yAxis: [
        { type: 'value', name: 'live bytes', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
        { type: 'value', name: 'allocs / bucket', splitLine: { show: false } },
      ],
      dataZoom: zoom(),
      series: [
        {
          name: 'live bytes (max in bucket)', type: 'line', step: 'end', symbol: 'none', sampling: 'max', areaStyle: { opacity: 0.15 }, data: xs.map((x: number, i: number) => [x, tl.liveMax[i]]),
          markLine: D.peak ? { silent: true, symbol: 'none', lineStyle: { color: '#d9534f', type: 'dashed' }, label: { formatter: 'peak', color: '#d9534f' }, data: [{ xAxis: D.peak.t / 1e9 }] } : undefined,
        },
        { name: 'live bytes (end of bucket)', type: 'line', step: 'end', symbol: 'none', data: xs.map((x: number, i: number) => [x, tl.liveEnd[i]]) },
        { name: 'allocations', type: 'line', yAxisIndex: 1, symbol: 'none', lineStyle: { width: 1, opacity: 0.5 }, data: xs.map((x: number, i: number) => [x, tl.allocs[i]]) },
      ],
    }));
  }

  // Top ops by bytes
  const top = D.summary?.topOpsByBytes ?? [];
  if (top.length) {
    const items = top.slice().reverse();
    draw('chart-ops', () => ({
      animation: false,
      grid: { left: 200, right: 40, top: 10, bottom: 30 },
      tooltip: {
        ...baseTooltip,
        trigger: 'item',
        formatter: (p: any) => {
          const o = items[p.dataIndex];
          return [row('op', o.name || '(outside any op)'), row('bytes', fmtBytes(o.bytes)), row('allocations', fmtInt(o.allocs)), row('largest', fmtBytes(o.maxSize))].join('<br>');
        },
      },
      xAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
      yAxis: { type: 'category', data: items.map((o: any) => o.name || '(outside any op)'), axisLabel: { width: 190, overflow: 'truncate' } },
      series: [{ type: 'bar', data: items.map((o: any) => o.bytes), itemStyle: { color: PALETTE[0] } }],
    }));
  }

  // Iterations
  const it = D.iterations;
  if (it && it.shown) {
    const labels = it.number.map((n: number, i: number) => (it.threads > 1 ? `#${n} t${it.thread[i]}` : `#${n}`));
    const colorOf = (s: number) => (s < 0 ? '#bbbbbb' : s === 0 ? PALETTE[1] : PALETTE[2 + ((s - 1) % 9)]);
    draw('chart-iterations', () => ({
      animation: false,
      legend: { top: 0, data: ['latency', 'allocations'] },
      grid: { left: 70, right: 70, top: 30, bottom: 60 },
      tooltip: {
        ...baseTooltip,
        trigger: 'axis',
        formatter: (ps: any[]) => {
          const i = ps[0].dataIndex;
          const s = it.sig[i];
          return [
            row('iteration', labels[i]),
            row('latency', fmtMs(ms(it.latencyNs[i]))),
            row('allocations', fmtInt(it.allocs[i])),
            row('bytes allocated', fmtBytes(it.bytes[i])),
            row('signature', s < 0 ? 'incomplete' : s === 0 ? 'steady (most frequent)' : `variant ${s}`),
          ].join('<br>');
        },
      },
      xAxis: { type: 'category', data: labels },
      yAxis: [
        { type: 'value', name: 'latency (ms)' },
        { type: 'value', name: 'allocations', splitLine: { show: false } },
      ],
      dataZoom: zoom(),
      series: [
        { name: 'latency', type: 'bar', data: it.latencyNs.map((v: number | null, i: number) => ({ value: ms(v), itemStyle: { color: colorOf(it.sig[i]) } })) },
        { name: 'allocations', type: 'line', yAxisIndex: 1, symbolSize: 4, data: it.allocs, itemStyle: { color: PALETTE[0] } },
      ],
    }));
  }

  // Plans
  const plans = D.plans ?? [];
  if (plans.length) {
    const names = plans.map((p: any) => `${p.algorithm} (#${p.id})`);
    draw('chart-plans', () => ({
      animation: false,
      legend: { top: 0 },
      grid: { left: 80, right: 20, top: 30, bottom: 50 },
      tooltip: {
        ...baseTooltip,
        trigger: 'axis',
        formatter: (ps: any[]) => {
          const p = plans[ps[0].dataIndex];
          return [
            row('plan', names[ps[0].dataIndex]),
            row('arena', fmtBytes(p.arenaBytes)),
            row('lower bound', fmtBytes(p.lowerBoundBytes)),
            row('system allocator span', fmtBytes(p.baselineSpanBytes)),
            row('arena / lower bound', (p.arenaBytes / p.lowerBoundBytes).toFixed(4)),
          ].join('<br>');
        },
      },
      xAxis: { type: 'category', data: names, axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0 } },
      yAxis: { type: 'value', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
      series: [
        { name: 'arena', type: 'bar', data: plans.map((p: any) => ({ value: p.arenaBytes, itemStyle: { borderColor: p.id === D.shownPlanId ? '#000' : undefined, borderWidth: p.id === D.shownPlanId ? 2 : 0 } })) },
        { name: 'lower bound (peak live bytes)', type: 'bar', data: plans.map((p: any) => p.lowerBoundBytes) },
        { name: 'system allocator span', type: 'bar', data: plans.map((p: any) => p.baselineSpanBytes) },
      ],
    }));
  }

  // Memory map of the shown plan: time x offset rectangles, one series per module group.
  const mm = D.memoryMap;
  if (mm && mm.shown) {
    const perGroup: any[][] = mm.groups.map(() => []);
    for (let i = 0; i < mm.shown; i++) perGroup[mm.group[i]].push([mm.start[i], mm.end[i], mm.offset[i], mm.offset[i] + mm.size[i], i]);
    draw('chart-map', () => ({
      animation: false,
      // The legend on its own line above the plot; the offset axis's name goes to its middle, clear of it.
      legend: { top: 0, type: 'scroll' },
      grid: { left: 90, right: 30, top: 44, bottom: 60 },
      tooltip: {
        ...baseTooltip,
        trigger: 'item',
        formatter: (p: any) => {
          const i = p.value[4];
          return [
            row('buffer', `#${mm.ordinal[i]}`),
            row('module', mm.modules[mm.module[i]] || '(none)'),
            row('op', mm.ops[mm.op[i]] || '(none)'),
            row('size', fmtBytes(mm.size[i])),
            row('offset', fmtInt(mm.offset[i])),
            row('lifetime', `${mm.start[i]} – ${mm.end[i]}`),
          ].join('<br>');
        },
      },
      xAxis: { type: 'value', name: 'logical time', min: 0, max: mm.times },
      yAxis: { type: 'value', name: 'offset', nameLocation: 'middle', nameGap: 70, min: 0, max: mm.arenaBytes, axisLabel: { formatter: (v: number) => fmtBytes(v) } },
      dataZoom: [
        { type: 'inside', xAxisIndex: [0], filterMode: 'weakFilter' },
        { type: 'inside', yAxisIndex: [0], filterMode: 'weakFilter' },
        { type: 'slider', xAxisIndex: [0], filterMode: 'weakFilter', height: 18, bottom: 4 },
      ],
      series: mm.groups.map((g: string, gi: number) => ({
        name: g,
        type: 'custom',
        itemStyle: { color: PALETTE[gi % PALETTE.length] },
        encode: { x: [0, 1], y: [2, 3] },
        renderItem: (params: any, api: any) => {
          const a = api.coord([api.value(0), api.value(3)]);
          const b = api.coord([api.value(1), api.value(2)]);
          const cs = params.coordSys;
          const shape = echarts.graphic.clipRectByRect(
            { x: a[0], y: a[1], width: Math.max(1, b[0] - a[0]), height: Math.max(1, b[1] - a[1]) },
            { x: cs.x, y: cs.y, width: cs.width, height: cs.height },
          );
          return shape && { type: 'rect', shape, style: { fill: PALETTE[gi % PALETTE.length], stroke: 'rgba(0,0,0,0.25)', lineWidth: 0.5 } };
        },
        data: perGroup[gi],
      })),
    }));
  }

  // Plan mode: per-iteration latency of this session beside each replay session
  const replays = (D.replays ?? []).filter((r: any) => r.latenciesNs.length);
  if (replays.length) {
    const own = it && it.shown ? it.latencyNs.filter((v: number | null) => v !== null) : [];
    const lines = [{ name: `session ${D.target.id} (recorded)`, data: own }].concat(
      replays.map((r: any) => ({ name: `replay session ${r.sessionId} (${r.setId != null ? `set ${r.setId}` : `plan ${r.planId ?? 'file'}`}, ${r.status})`, data: r.latenciesNs })),
    );
    draw('chart-replay', () => ({
      animation: false,
      legend: { top: 0, type: 'scroll' },
      grid: { left: 70, right: 20, top: 40, bottom: 40 },
      tooltip: {
        ...baseTooltip,
        trigger: 'axis',
        formatter: (ps: any[]) => [row('iteration (in order)', String(ps[0].value[0]))].concat(ps.map((p: any) => row(p.seriesName, fmtMs(p.value[1])))).join('<br>'),
      },
      xAxis: { type: 'value', name: 'iteration', minInterval: 1 },
      yAxis: { type: 'value', name: 'latency (ms)', scale: true },
      series: lines.map((l: any, i: number) => ({
        name: l.name,
        type: 'line',
        symbolSize: 5,
        itemStyle: { color: PALETTE[i % PALETTE.length] },
        data: l.data.map((v: number, k: number) => [k, v / 1e6]),
      })),
    }));
  }

  // A/B (the numbers of main/ab/analysis.ts, in ms)
  const ab = D.ab;
  if (ab && ab.report.arms.length) {
    const all = ab.report.arms;
    const arms = all.filter((a: any) => a.samples > 0);
    const quant = (a: any) => ab.quantilesMs[all.indexOf(a)] || [];
    const label = (a: any) => `${a.allocator} ×${a.threads}`;
    const cats = arms.map(label);
    const baseline = ab.report.baseline;
    const errorBars = (name: string, color: string, data: any[]) => ({
      name,
      type: 'custom',
      itemStyle: { color },
      renderItem: (_params: any, api: any) => {
        const x = api.value(0);
        const lo = api.coord([x, api.value(1)]);
        const hi = api.coord([x, api.value(2)]);
        const w = 6;
        const style = { stroke: color, lineWidth: 1.5 };
        return {
          type: 'group',
          children: [
            { type: 'line', shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style },
            { type: 'line', shape: { x1: lo[0] - w, y1: lo[1], x2: lo[0] + w, y2: lo[1] }, style },
            { type: 'line', shape: { x1: hi[0] - w, y1: hi[1], x2: hi[0] + w, y2: hi[1] }, style },
          ],
        };
      },
      encode: { x: 0, y: [1, 2] },
      data,
      z: 10,
    });
    const iv = (v: number | null, lo: number | null, hi: number | null, unit: string) =>
      v === null ? '–' : `${v.toFixed(3)}${unit} [${lo === null ? '–' : lo.toFixed(3)}, ${hi === null ? '–' : hi.toFixed(3)}]`;
    const armTip = (a: any) => {
      const lines = [
        row('arm', label(a)),
        row('samples', fmtInt(a.samples)),
        row('median [95% CI]', iv(a.median_ms, a.median_ci_low_ms, a.median_ci_high_ms, ' ms')),
        row('p90 [95% CI]', iv(a.p90_ms, a.p90_ci_low_ms, a.p90_ci_high_ms, ' ms')),
        row('p99 [95% CI]', iv(a.p99_ms, a.p99_ci_low_ms, a.p99_ci_high_ms, ' ms')),
      ];
      if (a.verdict && a.verdict !== 'baseline') {
        lines.push(row(`median ÷ ${baseline}`, iv(a.median_ratio, a.ratio_ci_low, a.ratio_ci_high, '') + ' ' + a.verdict));
        lines.push(row(`p99 ÷ ${baseline}`, iv(a.p99_ratio, a.p99_ratio_ci_low, a.p99_ratio_ci_high, '') + ' ' + a.p99_verdict));
      }
      return lines.join('<br>');
    };
    draw('chart-ab-latency', () => ({
      animation: false,
      legend: { top: 0 },
      grid: { left: 70, right: 20, top: 30, bottom: 60 },
      tooltip: { ...baseTooltip, trigger: 'axis', formatter: (ps: any[]) => armTip(arms[ps[0].dataIndex]) },
      xAxis: { type: 'category', data: cats, axisLabel: { interval: 0, rotate: cats.length > 6 ? 30 : 0 } },
      yAxis: { type: 'value', name: 'latency (ms)', scale: true },
      series: [
        { name: 'median', type: 'scatter', symbolSize: 10, data: arms.map((a: any) => a.median_ms), itemStyle: { color: PALETTE[0] } },
        errorBars('median 95% CI', PALETTE[0], arms.map((a: any, i: number) => [i, a.median_ci_low_ms, a.median_ci_high_ms])),
        { name: 'p99', type: 'scatter', symbol: 'diamond', symbolSize: 10, data: arms.map((a: any) => a.p99_ms), itemStyle: { color: PALETTE[3] } },
        errorBars('p99 95% CI', PALETTE[3], arms.map((a: any, i: number) => [i, a.p99_ci_low_ms, a.p99_ci_high_ms])),
      ],
    }));
    const cmp = arms.filter((a: any) => a.median_ratio !== null && a.verdict !== 'baseline');
    if (cmp.length) {
      const cc = cmp.map(label);
      draw('chart-ab-ratio', () => ({
        animation: false,
        legend: { top: 0 },
        grid: { left: 70, right: 20, top: 30, bottom: 60 },
        tooltip: { ...baseTooltip, trigger: 'axis', formatter: (ps: any[]) => armTip(cmp[ps[0].dataIndex]) },
        xAxis: { type: 'category', data: cc, axisLabel: { interval: 0, rotate: cc.length > 6 ? 30 : 0 } },
        yAxis: { type: 'value', name: `ratio to ${baseline}`, scale: true },
        series: [
          {
            name: 'median ratio',
            type: 'scatter',
            symbolSize: 10,
            data: cmp.map((a: any) => a.median_ratio),
            itemStyle: { color: PALETTE[0] },
            markLine: { silent: true, symbol: 'none', lineStyle: { color: '#333', type: 'dashed' }, data: [{ yAxis: 1 }], label: { formatter: 'no change' } },
          },
          errorBars('median ratio 95% CI', PALETTE[0], cmp.map((a: any, i: number) => [i, a.ratio_ci_low, a.ratio_ci_high])),
          { name: 'p99 ratio', type: 'scatter', symbol: 'diamond', symbolSize: 10, data: cmp.map((a: any) => a.p99_ratio), itemStyle: { color: PALETTE[3] } },
          errorBars('p99 ratio 95% CI', PALETTE[3], cmp.map((a: any, i: number) => [i, a.p99_ratio_ci_low, a.p99_ratio_ci_high])),
        ],
      }));
    }
    draw('chart-ab-dist', () => ({
      animation: false,
      legend: { top: 0, type: 'scroll' },
      grid: { left: 70, right: 20, top: 40, bottom: 40 },
      tooltip: {
        ...baseTooltip,
        trigger: 'axis',
        formatter: (ps: any[]) => [row('percentile', String(ps[0].value[0]))].concat(ps.map((p: any) => row(p.seriesName, fmtMs(p.value[1])))).join('<br>'),
      },
      xAxis: { type: 'value', name: 'percentile', min: 0, max: 100 },
      yAxis: { type: 'value', name: 'latency (ms)', scale: true },
      series: arms.map((a: any, i: number) => ({
        name: label(a),
        type: 'line',
        symbol: 'none',
        itemStyle: { color: PALETTE[i % PALETTE.length] },
        data: quant(a).map((v: number, p: number) => [p, v]),
      })),
    }));
    draw('chart-ab-rss', () => ({
      animation: false,
      legend: { top: 0 },
      grid: { left: 80, right: 80, top: 30, bottom: 60 },
      tooltip: {
        ...baseTooltip,
        trigger: 'axis',
        formatter: (ps: any[]) => {
          const a = arms[ps[0].dataIndex];
          return [row('arm', label(a)), row('peak RSS (median of runs)', fmtBytes(a.peak_rss_bytes)), row('minor faults (median)', fmtInt(a.minor_faults)), row('major faults (median)', fmtInt(a.major_faults))].join('<br>');
        },
      },
      xAxis: { type: 'category', data: cats, axisLabel: { interval: 0, rotate: cats.length > 6 ? 30 : 0 } },
      yAxis: [
        { type: 'value', name: 'peak RSS', axisLabel: { formatter: (v: number) => fmtBytes(v) } },
        { type: 'value', name: 'minor faults', splitLine: { show: false } },
      ],
      series: [
        { name: 'peak RSS', type: 'bar', data: arms.map((a: any) => a.peak_rss_bytes) },
        { name: 'minor faults', type: 'bar', yAxisIndex: 1, data: arms.map((a: any) => a.minor_faults) },
      ],
    }));
  }

  // Sweeps: one heatmap per panel; a click on a cell shows its row of the table below.
  (D.sweeps || []).forEach((s: any, si: number) => {
    s.panels.forEach((_p: any, pi: number) => {
      const chart = draw(`chart-sweep-${si}-${pi}`, () => memoplanSweepOption(s, pi, D.ab ? D.ab.report.ab_run_id : null));
      chart?.on('click', (e: any) => {
        const run = e?.data?.run;
        const tr = document.querySelector(`#sweep-${si}-table tr[data-run="${Number(run)}"]`);
        if (tr) tr.scrollIntoView({ block: 'center' });
      });
    });
  });

  window.addEventListener('resize', () => charts.forEach((c) => c.resize()));
  document.body.setAttribute('data-charts', failed ? 'failed' : 'ready');
  document.body.setAttribute('data-chart-count', String(charts.length));
}
