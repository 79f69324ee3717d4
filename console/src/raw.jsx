import { useEffect, useState } from 'preact/hooks';
import { api, qs } from './api.js';

// pretty indents JSON, and the provider's body inside the archived record
// when that is JSON too; anything else is shown as it is.
export function pretty(text) {
  try {
    const rec = JSON.parse(text);
    if (rec && typeof rec.body === 'string') {
      try {
        rec.body = JSON.parse(rec.body);
      } catch {
        // a form-encoded or other body stays a string
      }
    }
    return JSON.stringify(rec, null, 2);
  } catch {
    return text;
  }
}

// RawPage shows an interaction's archived raw payload: the delivery's
// verified body and headers, credentials removed.
export function RawPage({ query }) {
  const ref = query.get('ref') || '';
  const [text, setText] = useState(null);
  const [err, setErr] = useState('');
  useEffect(() => {
    api.text('/v1/raw' + qs({ ref })).then(setText).catch((e) => setErr(e.message));
  }, [ref]);
  return (
    <section aria-labelledby="raw-h">
      <p><a href="#" onClick={(e) => { e.preventDefault(); history.back(); }}>← Back</a></p>
      <h1 id="raw-h">Raw payload</h1>
      <p class="meta"><code>{ref}</code></p>
      {err && <p class="error" role="alert">{err}</p>}
      {text !== null && <pre class="raw" data-testid="raw" tabIndex={0}>{pretty(text)}</pre>}
    </section>
  );
}
