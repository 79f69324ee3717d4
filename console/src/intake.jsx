import { useEffect, useState, useCallback } from 'preact/hooks';
import { api, qs } from './api.js';
import { go, href } from './route.js';
import { when } from './format.js';
import { Mark } from './mark.jsx';
import { Chart } from './chart.jsx';

// listAll pages through the bad rows matching a filter.
async function listAll(filter, max = 2000) {
  const rows = [];
  let cursor = '';
  do {
    const page = await api.get('/v1/badrows' + qs({ ...filter, cursor, limit: 200 }));
    rows.push(...page.bad_rows);
    cursor = page.next || '';
  } while (cursor && rows.length < max);
  return rows;
}

// Intake: accepted events per channel over time (the interactions metric)
// and the quarantined bad rows with their reasons, replayed one at a time
// or all matching a filter after a dry run.
export function IntakePage({ query }) {
  const channel = query.get('channel') || '';
  const state = query.get('state') ?? 'quarantined';
  const granularity = query.get('granularity') || 'day';
  const [accepted, setAccepted] = useState(null);
  const [rows, setRows] = useState(null);
  const [err, setErr] = useState('');
  const [msg, setMsg] = useState('');
  const [dry, setDry] = useState(null);
  const [busy, setBusy] = useState(false);
  const load = useCallback(() => {
    setErr('');
    api.get('/v1/metrics/interactions' + qs({ group_by: 'channel', granularity, channel })).then(setAccepted).catch((e) => setErr(e.message));
    listAll({ channel, state }).then(setRows).catch((e) => setErr(e.message));
  }, [channel, state, granularity]);
  useEffect(() => { load(); }, [load]);
  const set = (k, v) => go('/intake', { channel, state, granularity, [k]: v });
  const replay = async (ids) => {
    setBusy(true);
    setErr('');
    let ok = 0;
    const failed = [];
    for (const id of ids) {
      try {
        await api.post('/v1/badrows/' + encodeURIComponent(id) + '/replay');
        ok++;
      } catch (e) {
        failed.push(`${id}: ${e.status === 403 ? 'needs the operator role' : e.message}`);
      }
    }
    setMsg(`Replayed ${ok} of ${ids.length}.`);
    if (failed.length) setErr(failed.join('; '));
    setDry(null);
    setBusy(false);
    load();
  };
  const groups = accepted ? accepted.groups || [] : [];
  const totals = groups.map((g) => [g.group.channel, g.points.reduce((a, p) => a + (p.value || 0), 0)]);
  const byChannel = {};
  for (const r of rows || []) byChannel[r.channel] = (byChannel[r.channel] || 0) + 1;
  return (
    <section aria-labelledby="intake-h">
      <h1 id="intake-h">Intake</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>Channel <input name="channel" value={channel} onChange={(e) => set('channel', e.currentTarget.value.trim())} placeholder="any" /></label>
        <label>Bad rows
          <select name="state" value={state} onChange={(e) => set('state', e.currentTarget.value)}>
            <option value="quarantined">quarantined</option>
            <option value="replayed">replayed</option>
            <option value="">any</option>
          </select>
        </label>
        <label>Granularity
          <select name="granularity" value={granularity} onChange={(e) => set('granularity', e.currentTarget.value)}>
            {['hour', 'day', 'week', 'month'].map((g) => <option value={g}>{g}</option>)}
          </select>
        </label>
      </form>
      {err && <p class="error" role="alert">{err}</p>}
      {msg && <p class="ok" role="status">{msg}</p>}
      <h2>Accepted events per channel</h2>
      {accepted && (
        <>
          <Chart series={groups.map((g) => ({ label: g.group.channel, points: g.points.map((p) => ({ t: Date.parse(p.start) / 1000, v: p.value })) }))} unit="events" title="accepted events per channel over time" height={220} />
          <div class="table-wrap">
            <table data-testid="intake-counts">
              <thead><tr><th scope="col">Channel</th><th scope="col">Accepted ({accepted.from.slice(0, 10)} – {accepted.to.slice(0, 10)})</th><th scope="col">Bad rows listed</th></tr></thead>
              <tbody>
                {totals.map(([ch, n]) => <tr data-channel={ch}><td><Mark channel={ch} /> {ch}</td><td class="num" data-testid="accepted">{n}</td><td class="num">{byChannel[ch] || 0}</td></tr>)}
              </tbody>
            </table>
          </div>
        </>
      )}
      <h2>Bad rows</h2>
      {rows && (
        <>
          <div class="actions">
            <button type="button" disabled={busy || rows.filter((r) => r.state === 'quarantined').length === 0} onClick={() => setDry(rows.filter((r) => r.state === 'quarantined'))}>Replay all matching…</button>
          </div>
          {dry && (
            <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dry-h">
              <h2 id="dry-h">Dry run: {dry.length} bad rows would be replayed</h2>
              <ul>{Object.entries(dry.reduce((a, r) => { for (const x of r.reasons) a[x.reason] = (a[x.reason] || 0) + 1; return a; }, {})).slice(0, 10).map(([k, v]) => <li>{v}× {k}</li>)}</ul>
              <div class="actions">
                <button type="button" autoFocus onClick={() => setDry(null)}>Cancel</button>
                <button type="button" class="danger" data-testid="confirm" onClick={() => replay(dry.map((r) => r.id))}>Replay {dry.length}</button>
              </div>
            </div>
          )}
          <div class="table-wrap">
            <table data-testid="badrows">
              <thead><tr><th scope="col">Received</th><th scope="col">Channel</th><th scope="col">Reasons</th><th scope="col">State</th><th scope="col">Replays</th><th scope="col"><span class="sr-only">Action</span></th></tr></thead>
              <tbody>
                {rows.length === 0 && <tr><td colSpan={6}>No bad rows match.</td></tr>}
                {rows.map((r) => (
                  <tr data-id={r.id} data-state={r.state}>
                    <td>{when(r.created_at)}</td>
                    <td>{r.channel}</td>
                    <td>{r.reasons.map((x) => (
                      <div>
                        {x.reason}
                        {x.item && <details><summary>the item</summary><code>{x.item}</code></details>}
                      </div>
                    ))}</td>
                    <td>{r.state}</td>
                    <td class="num">{r.replays}</td>
                    <td>{r.state === 'quarantined' && <button type="button" disabled={busy} onClick={() => replay([r.id])} aria-label={'Replay bad row ' + r.id}>Replay</button>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
