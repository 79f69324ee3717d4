import { useEffect, useState, useCallback } from 'preact/hooks';
import { api, qs, APIError } from './api.js';
import { go, href } from './route.js';
import { when } from './format.js';
import { Mark } from './mark.jsx';

const states = ['open', 'acknowledged', 'resolved'];
const severities = ['critical', 'warning', 'info'];

// Failures board: the API's listing with its filters (state, team, rule,
// severity, order) in the URL, a page at a time, refreshed every 15 s while
// the tab is visible. Channel and detection date narrow the page shown (the
// API has no channel or time filter on failures).
export function FailuresBoard({ query }) {
  const f = {
    state: query.get('state') ?? 'open', team: query.get('team') || '', rule: query.get('rule') || '',
    severity: query.get('severity') || '', channel: query.get('channel') || '', since: query.get('since') || '',
    sort: query.get('sort') || '-detected_at', cursor: query.get('cursor') || '',
  };
  const [page, setPage] = useState(null);
  const [err, setErr] = useState('');
  const [stamp, setStamp] = useState(0);
  const key = JSON.stringify(f);
  useEffect(() => {
    let live = true;
    const load = () =>
      api.get('/v1/failures' + qs({ state: f.state, team: f.team, rule: f.rule, severity: f.severity, sort: f.sort, cursor: f.cursor, limit: 25 }))
        .then((p) => { if (live) { setPage(p); setErr(''); setStamp(Date.now()); } })
        .catch((e) => live && setErr(e.message));
    load();
    const t = setInterval(() => { if (document.visibilityState === 'visible') load(); }, 15000);
    return () => { live = false; clearInterval(t); };
  }, [key]);
  const set = (k, v) => go('/failures', { ...f, cursor: '', [k]: v });
  const rows = (page?.failures || []).filter((x) => (!f.channel || (x.evidence || []).some((e) => e.channel === f.channel) || x.labels?.channel === f.channel) &&
    (!f.since || x.detected_at >= f.since));
  return (
    <section aria-labelledby="failures-h">
      <h1 id="failures-h">Failures</h1>
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>State
          <select value={f.state} onChange={(e) => set('state', e.currentTarget.value)} name="state">
            {states.map((s) => <option value={s}>{s}</option>)}
            <option value="">any</option>
          </select>
        </label>
        <label>Severity
          <select value={f.severity} onChange={(e) => set('severity', e.currentTarget.value)} name="severity">
            <option value="">any</option>
            {severities.map((s) => <option value={s}>{s}</option>)}
          </select>
        </label>
        <label>Team <input name="team" value={f.team} onChange={(e) => set('team', e.currentTarget.value.trim())} placeholder="any" /></label>
        <label>Rule <input name="rule" value={f.rule} onChange={(e) => set('rule', e.currentTarget.value.trim())} placeholder="any" /></label>
        <label>Channel <input name="channel" value={f.channel} onChange={(e) => set('channel', e.currentTarget.value.trim())} placeholder="any" /></label>
        <label>Detected since <input type="date" name="since" value={f.since} onChange={(e) => set('since', e.currentTarget.value)} /></label>
        <label>Order
          <select value={f.sort} onChange={(e) => set('sort', e.currentTarget.value)} name="sort">
            <option value="-detected_at">newest first</option>
            <option value="detected_at">oldest first</option>
          </select>
        </label>
      </form>
      {err && <p class="error" role="alert">{err}</p>}
      {!page && !err && <p>Loading…</p>}
      {page && (
        <>
          <p class="meta" aria-live="polite">{rows.length} shown · updated {new Date(stamp).toISOString().slice(11, 19)} UTC</p>
          <div class="table-wrap">
            <table class="board" data-testid="failures">
              <thead>
                <tr><th scope="col">Severity</th><th scope="col">Failure</th><th scope="col">Team</th><th scope="col">Customer</th>
                  <th scope="col">State</th><th scope="col">Assignee</th><th scope="col">Seen</th><th scope="col">Detected</th></tr>
              </thead>
              <tbody>
                {rows.map((x) => (
                  <tr data-id={x.id}>
                    <td><span class={'sev sev-' + x.severity}>{x.severity}</span></td>
                    <td><a href={href('/failures/' + x.id)}>{x.rule_id}</a><div class="sub">{x.summary || x.description}</div></td>
                    <td>{x.team}</td>
                    <td class="who">{x.customer_id ? <a href={href('/customers/' + x.customer_id)}>{display(x) || x.customer_id}</a> : (display(x) || x.key || '—')}</td>
                    <td><span class={'state state-' + x.state}>{x.state}</span></td>
                    <td>{x.assignment?.assignee || '—'}</td>
                    <td class="num">{x.occurrences || 1}×</td>
                    <td>{when(x.detected_at)}</td>
                  </tr>
                ))}
                {rows.length === 0 && <tr><td colSpan={8}>No failures match.</td></tr>}
              </tbody>
            </table>
          </div>
          <nav class="pager" aria-label="Pages">
            {f.cursor && <a href={href('/failures', { ...f, cursor: '' })}>First page</a>}
            {page.next && <a href={href('/failures', { ...f, cursor: page.next })} data-testid="next-page">Next page</a>}
          </nav>
        </>
      )}
    </section>
  );
}

// display names the customer as the evidence's channels gave them.
function display(f) {
  for (const e of f.evidence || []) if (e.customer?.email) return e.customer.email;
  for (const e of f.evidence || []) if (e.customer?.phone) return e.customer.phone;
  return '';
}

// One failure: what happened (the evidence events), its lifecycle and
// activity, and the actions.
export function FailureDetail({ id }) {
  const [d, setD] = useState(null);
  const [err, setErr] = useState('');
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState('');
  const [assignee, setAssignee] = useState('');
  const [raws, setRaws] = useState({});
  const [loop, setLoop] = useState(null);
  const load = useCallback(() => {
    // The closed loop (ticket, follow-up, outcome); a failure without one answers 404.
    api.get('/v1/failures/' + encodeURIComponent(id) + '/loop').then(setLoop).catch(() => setLoop(null));
    return api.get('/v1/failures/' + encodeURIComponent(id)).then((x) => { setD(x); setAssignee(x.assignment?.assignee || ''); }).catch((e) => setErr(e.message));
  }, [id]);
  useEffect(() => { load(); }, [load]);
  // The evidence events' raw payloads, by the customer's interactions.
  const customerID = d?.customer_id;
  useEffect(() => {
    if (!customerID) return;
    api.get('/v1/customers/' + encodeURIComponent(customerID) + qs({ interactions: 500 }))
      .then((v) => setRaws(Object.fromEntries(v.interactions.filter((i) => i.raw).map((i) => [i.id, i.raw]))))
      .catch(() => setRaws({}));
  }, [customerID]);
  const act = async (path, body) => {
    setBusy(true);
    setErr('');
    try {
      await api.post('/v1/failures/' + encodeURIComponent(id) + '/' + path, body);
      await load();
      return true;
    } catch (e) {
      setErr(e instanceof APIError ? `${e.status}: ${e.message}` : e.message);
      return false;
    } finally {
      setBusy(false);
    }
  };
  if (err && !d) return <p class="error" role="alert">{err}</p>;
  if (!d) return <p>Loading…</p>;
  return (
    <section aria-labelledby="failure-h" data-testid="failure-detail" data-state={d.state}>
      <p><a href={href('/failures')}>← Failures</a></p>
      <h1 id="failure-h">{d.rule_id} <span class={'state state-' + d.state} data-testid="failure-state">{d.state}</span></h1>
      <p>{d.description}</p>
      <dl class="facts">
        <dt>Severity</dt><dd><span class={'sev sev-' + d.severity}>{d.severity}</span></dd>
        <dt>Team</dt><dd>{d.team}</dd>
        <dt>Customer</dt><dd>{d.customer_id ? <a href={href('/customers/' + d.customer_id)}>{display(d) || d.customer_id}</a> : (display(d) || '—')}{d.customer_id && display(d) ? <span class="sub"> {d.customer_id}</span> : null}</dd>
        <dt>Keyed on</dt><dd>{d.key || '—'}</dd>
        <dt>Measured</dt><dd>{d.summary || '—'}</dd>
        <dt>Occurrences</dt><dd data-testid="occurrences">{d.occurrences || 1} (last seen {when(d.last_seen_at)})</dd>
        <dt>Detected</dt><dd>{when(d.detected_at)}</dd>
        <dt>Assignee</dt><dd data-testid="assignee">{d.assignment ? `${d.assignment.assignee} (by ${d.assignment.by}, ${when(d.assignment.at)})` : '—'}</dd>
        {d.runbook && <><dt>Runbook</dt><dd><a href={d.runbook} rel="noopener noreferrer" target="_blank">{d.runbook}</a></dd></>}
        {loop && <>
          <dt>Ticket</dt><dd data-testid="loop-ticket">{loop.ticket_id || (loop.ticket_error ? `none: ${loop.ticket_error}` : '—')}</dd>
          <dt>Follow-up</dt><dd data-testid="loop-follow-up">{loop.followed_up_at ? `reached ${when(loop.followed_up_at)} (${loop.followed_up_by})` : loop.follow_up_due ? `due ${when(loop.follow_up_due)}${loop.escalated_at ? `, escalated ${when(loop.escalated_at)}` : ''}` : '—'}</dd>
          <dt>Outcome</dt><dd data-testid="loop-outcome">{loop.outcome && loop.outcome !== 'none' ? `${loop.outcome} (${loop.reason}), ${when(loop.decided_at)}` : `watched until ${when(loop.decide_by)}`}</dd>
        </>}
      </dl>
      {err && <p class="error" role="alert">{err}</p>}
      <div class="actions">
        <button type="button" disabled={busy || d.state !== 'open'} onClick={() => act('acknowledge', { note })}>Acknowledge</button>
        <button type="button" disabled={busy || d.state === 'resolved'} onClick={() => act('resolve', { note })}>Resolve</button>
        {loop && !loop.followed_up_at && !loop.outcome && <button type="button" disabled={busy} onClick={() => act('contacted', {})}>Customer contacted</button>}
      </div>
      <form class="inline" onSubmit={(e) => { e.preventDefault(); act('assign', { assignee }); }}>
        <label>Assign to <input name="assignee" value={assignee} onInput={(e) => setAssignee(e.currentTarget.value)} /></label>
        <button type="submit" disabled={busy}>Assign</button>
      </form>
      <form class="inline" onSubmit={async (e) => { e.preventDefault(); if (await act('notes', { text: note })) setNote(''); }}>
        <label>Note <textarea name="note" rows={2} value={note} onInput={(e) => setNote(e.currentTarget.value)} /></label>
        <button type="submit" disabled={busy || !note.trim()}>Add note</button>
      </form>
      <h2>Evidence</h2>
      <div class="table-wrap">
        <table data-testid="evidence">
          <thead><tr><th scope="col">When</th><th scope="col">Channel</th><th scope="col">Event</th><th scope="col">Attributes</th></tr></thead>
          <tbody>
            {(d.evidence || []).map((e) => (
              <tr>
                <td>{when(e.occurred_at)}</td>
                <td><Mark channel={e.channel} /> {e.channel}</td>
                <td>{e.type}<div class="sub"><code>{e.event_id}</code>{raws[e.event_id] && <> · <a href={href('/raw', { ref: raws[e.event_id] })}>raw payload</a></>}</div></td>
                <td class="attrs">{Object.entries(e.attributes || {}).slice(0, 6).map(([k, v]) => <span>{k}={String(v)} </span>)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h2>History</h2>
      <ol class="history" data-testid="history">
        {(d.history || []).map((h) => <li><strong>{h.state}</strong> by {h.by} at {when(h.at)}{h.note ? ` — “${h.note}”` : ''}</li>)}
      </ol>
      <h2>Notes and assignments</h2>
      <ol class="history" data-testid="activity">
        {d.activity.length === 0 && <li>None yet.</li>}
        {d.activity.map((a) => <li>{a.kind === 'assign' ? (a.assignee ? `assigned to ${a.assignee}` : 'unassigned') : `“${a.text}”`} — {a.by}, {when(a.at)}</li>)}
      </ol>
    </section>
  );
}
