import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

const palette = ['#1f5fbf', '#b5480b', '#2a7d3a', '#7a3db8', '#a0264f', '#4d6b00', '#005f73', '#6b4f00'];

// Chart draws each series over time; a series with an interval gets its
// 95 % band shaded behind the line, and low-sample points are drawn hollow.
// series: [{label, points: [{t (seconds), v, lo, hi, low}]}]
export function Chart({ series, unit, title, height = 280 }) {
  const el = useRef(null);
  useEffect(() => {
    if (!el.current) return;
    const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p.t)))].sort((a, b) => a - b);
    const data = [xs];
    const opts = {
      width: Math.max(280, el.current.clientWidth),
      height,
      legend: { live: false },
      scales: { x: { time: true } },
      axes: [{}, { label: unit || '', size: 60 }],
      series: [{}],
      bands: [],
    };
    series.forEach((s, i) => {
      const byT = new Map(s.points.map((p) => [p.t, p]));
      const color = palette[i % palette.length];
      const v = xs.map((t) => (byT.has(t) ? byT.get(t).v : null));
      data.push(v);
      // Points are drawn by the hook below: hollow where low_sample.
      opts.series.push({ label: s.label, stroke: color, width: 2, spanGaps: true, points: { show: false } });
      const vi = data.length - 1;
      if (s.points.some((p) => p.lo !== null && p.lo !== undefined)) {
        data.push(xs.map((t) => (byT.has(t) ? byT.get(t).hi : null)));
        data.push(xs.map((t) => (byT.has(t) ? byT.get(t).lo : null)));
        const band = color + '22';
        opts.series.push({ label: s.label + ' 95 % interval, high', stroke: color + '55', width: 1, dash: [4, 4], spanGaps: true, points: { show: false } });
        opts.series.push({ label: s.label + ' 95 % interval, low', stroke: color + '55', width: 1, dash: [4, 4], spanGaps: true, points: { show: false } });
        opts.bands.push({ series: [vi + 1, vi + 2], fill: band });
      }
      const low = xs.map((t) => byT.has(t) && byT.get(t).low);
      opts.hooks = opts.hooks || { draw: [] };
      opts.hooks.draw.push((u) => {
        const ctx = u.ctx;
        ctx.save();
        // The interval series are dashed; points are not.
        ctx.setLineDash([]);
        for (let j = 0; j < xs.length; j++) {
          const val = data[vi][j];
          if (val === null || val === undefined) continue;
          const x = u.valToPos(xs[j], 'x', true);
          const y = u.valToPos(val, 'y', true);
          ctx.beginPath();
          ctx.arc(x, y, 4 * devicePixelRatio, 0, 2 * Math.PI);
          ctx.fillStyle = low[j] ? '#fff' : color;
          ctx.strokeStyle = color;
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.fill();
          ctx.stroke();
        }
        ctx.restore();
      });
    });
    const plot = new uPlot(opts, data, el.current);
    const ro = new ResizeObserver(() => plot.setSize({ width: Math.max(280, el.current.clientWidth), height }));
    ro.observe(el.current);
    return () => {
      ro.disconnect();
      plot.destroy();
    };
  }, [series, unit, height]);
  return <div class="chart" ref={el} role="img" aria-label={title} />;
}
