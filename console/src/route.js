import { useEffect, useState } from 'preact/hooks';

// The hash holds the page and its query, so every view — a chart's query
// included — is a URL one can share and restore.
export function parseHash() {
  const h = location.hash.replace(/^#/, '') || '/failures';
  const [path, query = ''] = h.split('?');
  return { path, parts: path.split('/').filter(Boolean), query: new URLSearchParams(query) };
}

export function useRoute() {
  const [r, setR] = useState(parseHash());
  useEffect(() => {
    const on = () => setR(parseHash());
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return r;
}

export function href(path, params = {}) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== '') u.set(k, v);
  const s = u.toString();
  return '#' + path + (s ? '?' + s : '');
}

export function go(path, params, replace) {
  const h = href(path, params);
  if (replace) history.replaceState(null, '', h);
  else location.hash = h;
  if (replace) window.dispatchEvent(new HashChangeEvent('hashchange'));
}
