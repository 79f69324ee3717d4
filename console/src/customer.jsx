import { useEffect, useState, useCallback } from 'preact/hooks';
import { api, qs, APIError } from './api.js';
import { go, href } from './route.js';
import { when, duration } from './format.js';
import { Mark } from './mark.jsx';

// keyOf turns what a person types into the API's lookup: an OCX id, or an
// identity key (email, phone, or kind:value for provider ids).
export function keyOf(q) {
  q = q.trim();
  if (/^cus_[0-9a-f]+$/.test(q)) return { id: q };
  if (/^[a-z_]+:/.test(q)) return { key: q };
  if (q.includes('@')) return { key: 'email:' + q };
  if (/^\+?[0-9 ().-]{6,}$/.test(q)) return { key: 'phone:' + q.replace(/[ ().-]/g, '') };
  return { key: q };
}

export function CustomerSearch({ query }) {
  const [q, setQ] = useState(query.get('q') || '');
  const [err, setErr] = useState('');
  const find = async (e) => {
    e.preventDefault();
    setErr('');
    const k = keyOf(q);
    if (k.id) return go('/customers/' + k.id);
    try {
      const v = await api.get('/v1/customers' + qs({ key: k.key, interactions: 0 }));
      go('/customers/' + v.id);
    } catch (e2) {
      setErr(e2.status === 404 ? 'No customer has that identity.' : e2.message);
    }
  };
  return (
    <section aria-labelledby="cust-h">
      <h1 id="cust-h">Customers</h1>
      <form class="inline" onSubmit={find} role="search">
        <label>Email, phone, provider id (e.g. <code>zendesk:123</code>) or OCX id
          <input name="q" value={q} onInput={(e) => setQ(e.currentTarget.value)} autoComplete="off" />
        </label>
        <button type="submit">Find</button>
      </form>
      {err && <p class="error" role="alert">{err}</p>}
    </section>
  );
}

// The customer's whole story on one time axis, newest first: interactions
// on every channel, journey stages (with their SLA deadlines), failures,
// identities as they were linked and merges.
export function timeline(v) {
  const items = [];
  for (const i of v.interactions) items.push({ at: i.occurred_at, kind: 'interaction', i });
  for (const j of v.journeys) for (const h of j.history || []) items.push({ at: h.entered_at, kind: 'stage', j, h });
  for (const f of v.raised_failures || v.failures) items.push({ at: f.detected_at, kind: 'failure', f });
  for (const k of v.identities) if (k.linked_at) items.push({ at: k.linked_at, kind: 'identity', k });
  for (const m of v.merges) items.push({ at: m.at, kind: 'merge', m });
  items.sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
  return items;
}

export function CustomerPage({ id }) {
  const [v, setV] = useState(null);
  const [err, setErr] = useState('');
  const [gone, setGone] = useState(null);
  const [msg, setMsg] = useState('');
  const [confirm, setConfirm] = useState(null);
  const load = useCallback(() => {
    setErr('');
    return api.get('/v1/customers/' + encodeURIComponent(id) + qs({ interactions: 200 }))
      .then((x) => { setV(x); setGone(null); })
      .catch((e) => { if (e.status === 410) { setGone(e.message); setV(null); } else setErr(e.message); });
  }, [id]);
  useEffect(() => { load(); }, [load]);
  const run = async (what, fn) => {
    setErr('');
    try {
      const r = await fn();
      setMsg(what);
      setConfirm(null);
      return r;
    } catch (e) {
      setConfirm(null);
      setErr(e instanceof APIError && e.status === 403 ? 'This needs the operator role.' : e.message);
    }
  };
  const unmerge = (absorbed) => run(`Unmerged ${absorbed}.`, async () => {
    await api.post('/v1/customers/' + encodeURIComponent(absorbed) + '/unmerge');
    await load();
  });
  const erase = (ref) => run('Erased. The audit record remains.', async () => {
    const r = await api.del('/v1/customers/' + encodeURIComponent(v.id) + qs({ request_ref: ref }));
    setV(null);
    setGone(`erased at ${when(r.erasure.requested_at)} (erasure ${r.erasure.id}): ${r.erasure.counts.interactions} interactions, ${r.erasure.counts.identity_keys} identities, ${r.erasure.counts.failures} failures`);
  });
  if (gone) return <section aria-labelledby="c-h"><h1 id="c-h">Customer {id}</h1><p data-testid="erased">{msg} Customer {gone}</p></section>;
  if (err && !v) return <p class="error" role="alert">{err}</p>;
  if (!v) return <p>Loading…</p>;
  const items = timeline(v);
  return (
    <section aria-labelledby="c-h" data-testid="customer" data-id={v.id}>
      <p><a href={href('/customers')}>← Find a customer</a></p>
      <h1 id="c-h">Customer <code>{v.id}</code></h1>
      {v.requested_id && <p class="meta">{v.requested_id} was merged into this customer.</p>}
      <dl class="facts">
        <dt>First seen</dt><dd>{when(v.first_seen_at)}</dd>
        <dt>Interactions</dt><dd data-testid="interactions-total">{v.interactions_total}</dd>
        <dt>Open failures</dt><dd data-testid="open-failures">{v.failures.length}</dd>
      </dl>
      {msg && <p class="ok" role="status">{msg}</p>}
      {err && <p class="error" role="alert">{err}</p>}

      <h2>Identities</h2>
      <div class="table-wrap">
        <table data-testid="identities">
          <thead><tr><th scope="col">Identity</th><th scope="col">Kind</th><th scope="col">Linked</th><th scope="col">By event</th><th scope="col">Came with</th></tr></thead>
          <tbody>
            {v.identities.map((k) => <tr><td><code>{k.key}</code></td><td>{k.kind}</td><td>{when(k.linked_at)}</td><td><code>{k.linked_by || '—'}</code></td><td>{k.via || '—'}</td></tr>)}
          </tbody>
        </table>
      </div>

      <h2>Journeys</h2>
      <ul class="journeys" data-testid="journeys">
        {v.journeys.length === 0 && <li>None.</li>}
        {v.journeys.map((j) => (
          <li>
            <strong>{j.journey}</strong> — {j.outcome || 'in progress'}, stage <strong>{j.stage}</strong>
            {j.sla_due_at && <> · SLA due {when(j.sla_due_at)}{j.sla_breached && <span class="sev sev-critical"> breached</span>}</>}
            <ol class="stages">
              {(j.history || []).map((h) => <li>{h.stage} from {when(h.entered_at)} ({duration(h.seconds_in_stage)}){h.sla_breached ? ' — over SLA' : ''}</li>)}
            </ol>
          </li>
        ))}
      </ul>

      <h2>Merges</h2>
      <ul data-testid="merges">
        {v.merges.length === 0 && <li>None.</li>}
        {v.merges.map((m) => (
          <li data-merge={m.absorbed} data-state={m.state}>
            <code>{m.absorbed}</code> merged into <code>{m.survivor}</code> at {when(m.at)} by event <code>{m.cause?.event_id}</code> ({m.state}{m.unmerged_at ? `, undone ${when(m.unmerged_at)}` : ''})
            {m.state === 'merged' && <button type="button" class="danger" onClick={() => setConfirm({ kind: 'unmerge', id: m.absorbed })}>Unmerge…</button>}
          </li>
        ))}
      </ul>

      <h2>Timeline</h2>
      <ol class="timeline" data-testid="timeline">
        {items.map((it) => <TimelineItem it={it} />)}
      </ol>

      <h2>Privacy</h2>
      <button type="button" class="danger" onClick={() => setConfirm({ kind: 'erase' })}>Erase this customer…</button>
      {confirm && <Confirm confirm={confirm} onCancel={() => setConfirm(null)} onUnmerge={unmerge} onErase={erase} />}
    </section>
  );
}

function TimelineItem({ it }) {
  switch (it.kind) {
    case 'interaction': {
      const i = it.i;
      const attrs = Object.entries(i.attributes || {}).filter(([, x]) => typeof x !== 'object').slice(0, 5);
      return (
        <li class="t-interaction" data-kind="interaction">
          <time>{when(it.at)}</time>
          <Mark channel={i.channel} />
          <span><strong>{i.channel}</strong> {i.type} {attrs.map(([k, x]) => <span class="attr">{k}={String(x)} </span>)}
            {i.raw && <a class="rawlink" href={href('/raw', { ref: i.raw })} aria-label={`raw payload of ${i.channel} ${i.type} at ${when(it.at)}`}>raw</a>}</span>
        </li>
      );
    }
    case 'stage':
      return <li class="t-stage" data-kind="stage"><time>{when(it.at)}</time><span class="icon" aria-hidden="true">➜</span><span>journey <strong>{it.j.journey}</strong> entered <strong>{it.h.stage}</strong>{it.h.sla_breached ? ' (SLA breached)' : ''}</span></li>;
    case 'failure':
      return <li class="t-failure" data-kind="failure"><time>{when(it.at)}</time><span class="icon" aria-hidden="true">⚠</span><span>failure <a href={href('/failures/' + it.f.id)}>{it.f.rule_id}</a> <span class={'state state-' + it.f.state}>{it.f.state}</span></span></li>;
    case 'identity':
      return <li class="t-identity" data-kind="identity"><time>{when(it.at)}</time><span class="icon" aria-hidden="true">+</span><span>linked <code>{it.k.key}</code> by event <code>{it.k.linked_by || '—'}</code></span></li>;
    default:
      return <li class="t-merge" data-kind="merge"><time>{when(it.at)}</time><span class="icon" aria-hidden="true">⇆</span><span>merged <code>{it.m.absorbed}</code> ({it.m.state})</span></li>;
  }
}

// Confirm asks before what cannot be taken back lightly.
function Confirm({ confirm, onCancel, onUnmerge, onErase }) {
  const [ref, setRef] = useState('');
  useEffect(() => {
    const esc = (e) => { if (e.key === 'Escape') onCancel(); };
    window.addEventListener('keydown', esc);
    return () => window.removeEventListener('keydown', esc);
  }, [onCancel]);
  return (
    <div class="dialog" role="dialog" aria-modal="true" aria-labelledby="dlg-h">
      <h2 id="dlg-h">{confirm.kind === 'unmerge' ? 'Undo this merge?' : 'Erase this customer?'}</h2>
      {confirm.kind === 'unmerge' ? (
        <p>{confirm.id} and what it brought (identities, interactions recorded since) become a separate customer again.</p>
      ) : (
        <>
          <p>Every identity, interaction, journey, failure and raw payload of this customer is deleted. An audit record without personal data remains.</p>
          <label>Request reference (a ticket number) <input name="request_ref" value={ref} onInput={(e) => setRef(e.currentTarget.value)} /></label>
        </>
      )}
      <div class="actions">
        <button type="button" autoFocus onClick={onCancel}>Cancel</button>
        <button type="button" class="danger" data-testid="confirm" onClick={() => (confirm.kind === 'unmerge' ? onUnmerge(confirm.id) : onErase(ref))}>
          {confirm.kind === 'unmerge' ? 'Unmerge' : 'Erase'}
        </button>
      </div>
    </div>
  );
}
