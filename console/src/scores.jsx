import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, qs, download } from './api.js';
import { go, href } from './route.js';
import { num, duration } from './format.js';
import { Chart } from './chart.jsx';

// Views operations asks for, each a query like any other.
export const presets = [
  ['NPS', { metric: 'nps' }],
  ['CSAT', { metric: 'csat' }],
  ['CES', { metric: 'ces' }],
  ['Funnel', { metric: 'funnel', group_by: 'stage' }],
  ['Time in stage', { metric: 'time_in_stage', group_by: 'stage' }],
  ['Repeat contact', { metric: 'repeat_contact_rate' }],
  ['Channel hop', { metric: 'channel_hop_rate' }],
  ['First-contact resolution', { metric: 'first_contact_resolution' }],
  ['Failure rate by team', { metric: 'failure_rate', group_by: 'team' }],
  ['MTTA by team', { metric: 'mtta', group_by: 'team' }],
  ['MTTR by team', { metric: 'mttr', group_by: 'team' }],
  ['Recovery by rule', { metric: 'recovery_rate', group_by: 'rule' }],
  ['Churn after failure by rule', { metric: 'churn_after_failure_rate', group_by: 'rule' }],
  ['Loops closed by team', { metric: 'loop_closed_rate', group_by: 'team' }],
  ['Time to follow-up by team', { metric: 'time_to_follow_up', group_by: 'team' }],
];

// Metrics that count each value of a dimension separately must be grouped
// or filtered by it.
const needs = { funnel: 'stage' };
const own = ['metric', 'granularity', 'from', 'to', 'group_by', 'tz'];

// The API query a page's URL stands for: the same parameters, so the URL
// restores the chart and the CSV is what is shown.
export function apiQuery(query) {
  const p = {};
  for (const [k, v] of query.entries()) if (k !== 'metric' && v) p[k] = v;
  return p;
}

function groupLabel(g) {
  const e = Object.entries(g || {});
  return e.length ? e.map(([k, v]) => `${k}=${v || '(none)'}`).join(', ') : 'all';
}

export function ScoresPage({ query }) {
  const metric = query.get('metric') || 'nps';
  const [cat, setCat] = useState(null);
  const [res, setRes] = useState(null);
  const [err, setErr] = useState('');
  const q = apiQuery(query);
  const key = metric + JSON.stringify(q);
  useEffect(() => { api.get('/v1/metrics').then(setCat).catch((e) => setErr(e.message)); }, []);
  useEffect(() => {
    setRes(null);
    setErr('');
    api.get('/v1/metrics/' + encodeURIComponent(metric) + qs(q)).then(setRes).catch((e) => setErr(e.message));
  }, [key]);
  const m = cat?.metrics.find((x) => x.name === metric);
  const set = (k, v) => {
    const next = { metric, ...q, [k]: v };
    if (k === 'metric') {
      delete next.group_by;
      for (const d of Object.keys(next)) if (!own.includes(d)) delete next[d];
      if (needs[v]) next.group_by = needs[v];
    }
    go('/scores', next);
  };
  const groups = res ? (res.groups ? res.groups : [{ group: {}, points: res.points || [] }]) : [];
  const isDuration = m?.kind === 'duration';
  const series = useMemo(() => {
    const out = [];
    for (const g of groups.slice(0, 8)) {
      if (isDuration) {
        for (const st of ['p50', 'p90', 'p99']) {
          out.push({ label: `${groupLabel(g.group)} ${st}`, points: g.points.map((p) => ({ t: Date.parse(p.start) / 1000, v: p.stats?.[st] ?? null, low: p.low_sample })) });
        }
      } else {
        out.push({ label: groupLabel(g.group), points: g.points.map((p) => ({ t: Date.parse(p.start) / 1000, v: p.value, lo: p.ci_low, hi: p.ci_high, low: p.low_sample })) });
      }
    }
    return out;
  }, [res]);
  const csv = async () => {
    const text = await api.csv('/v1/metrics/' + encodeURIComponent(metric) + qs(q));
    download(`${metric}.csv`, text);
  };
  const filters = Object.entries(q).filter(([k]) => !own.includes(k));
  return (
    <section aria-labelledby="scores-h">
      <h1 id="scores-h">Scores and operations</h1>
      <nav aria-label="Views" class="presets">
        {presets.map(([label, p]) => <a href={href('/scores', p)} aria-current={metric === p.metric && (q.group_by || '') === (p.group_by || '') ? 'page' : undefined}>{label}</a>)}
      </nav>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>Metric
          <select name="metric" value={metric} onChange={(e) => set('metric', e.currentTarget.value)}>
            {(cat?.metrics || [{ name: metric }]).map((x) => <option value={x.name}>{x.name}</option>)}
          </select>
        </label>
        <label>Granularity
          <select name="granularity" value={q.granularity || 'day'} onChange={(e) => set('granularity', e.currentTarget.value)}>
            {(cat?.granularities || ['hour', 'day', 'week', 'month']).map((g) => <option value={g}>{g}</option>)}
          </select>
        </label>
        <label>From <input type="date" name="from" value={q.from || ''} onChange={(e) => set('from', e.currentTarget.value)} /></label>
        <label>To <input type="date" name="to" value={q.to || ''} onChange={(e) => set('to', e.currentTarget.value)} /></label>
        <label>Group by
          <select name="group_by" value={q.group_by || ''} onChange={(e) => set('group_by', e.currentTarget.value)}>
            <option value="">nothing</option>
            {(m?.dimensions || []).map((d) => <option value={d}>{d}</option>)}
          </select>
        </label>
        <button type="button" onClick={csv} disabled={!res}>Download CSV</button>
      </form>
      {filters.length > 0 && <p class="meta">Filtered: {filters.map(([k, v]) => `${k}=${v}`).join(', ')}</p>}
      {m && <p class="meta">{m.description} <span class="formula">{m.formula}</span></p>}
      {err && <p class="error" role="alert">{err}</p>}
      {res && (
        <>
          <Chart series={series} unit={m?.unit} title={`${metric} by ${res.granularity}${q.group_by ? ' per ' + q.group_by : ''}; shaded band: 95 % interval; hollow points: low sample`} />
          <p class="legend-note">Shaded band: 95 % interval. Hollow point: fewer than 30 answers (low sample).</p>
          <div class="table-wrap">
            <table data-testid="points">
              <caption>{metric}, {res.granularity}, {res.from.slice(0, 10)} to {res.to.slice(0, 10)} ({res.tz})</caption>
              <thead>
                <tr><th scope="col">Period</th><th scope="col">Group</th><th scope="col">Value</th><th scope="col">n</th>
                  <th scope="col">95 % interval</th>{isDuration && <><th scope="col">p50</th><th scope="col">p90</th><th scope="col">p99</th></>}<th scope="col">Parts</th></tr>
              </thead>
              <tbody>
                {groups.flatMap((g) => g.points.filter((p) => p.n > 0 || p.value !== null).map((p) => (
                  <tr data-start={p.start} data-group={groupLabel(g.group)} class={p.low_sample ? 'low' : ''}>
                    <td>{p.start.slice(0, res.granularity === 'hour' ? 16 : 10).replace('T', ' ')}</td>
                    <td>{groupLabel(g.group)}</td>
                    <td class="num" data-testid="value">{isDuration ? duration(p.value) : num(p.value)}</td>
                    <td class="num" data-testid="n">{p.n}</td>
                    <td class="num">{p.ci_low !== null && p.ci_low !== undefined ? `${num(p.ci_low)} – ${num(p.ci_high)}` : '—'}{p.low_sample && <span class="badge" title="fewer than 30 answers">low sample</span>}</td>
                    {isDuration && ['p50', 'p90', 'p99'].map((s) => <td class="num">{duration(p.stats?.[s])}</td>)}
                    <td class="parts">{Object.entries(p.parts || {}).map(([k, v]) => `${k} ${v}`).join(' · ')}</td>
                  </tr>
                )))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
