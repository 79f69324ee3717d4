// The console's one way to OCX: the analyst API, with the signed-in
// credential. Nothing here reads a table.

const store = window.sessionStorage;

export const auth = {
  config: null,
  token: store.getItem('ocx.token') || '',
  user: window.localStorage.getItem('ocx.user') || '',
};

export function setToken(t) {
  auth.token = t;
  if (t) store.setItem('ocx.token', t);
  else store.removeItem('ocx.token');
}

export function setUser(u) {
  auth.user = u;
  window.localStorage.setItem('ocx.user', u);
}

export class APIError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

function headers(extra) {
  const h = { Accept: 'application/json', ...extra };
  if (auth.token) h.Authorization = 'Bearer ' + auth.token;
  if (auth.user) h['X-OCX-User'] = auth.user;
  return h;
}

async function call(method, path, body, accept) {
  const init = { method, headers: headers(accept ? { Accept: accept === 'text' ? '*/*' : accept } : {}), credentials: 'omit' };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['Content-Type'] = 'application/json';
  }
  const res = await fetch(path, init);
  if ((accept === 'text/csv' || accept === 'text') && res.ok) return res.text();
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (res.status === 401) {
    // The credential expired or was wrong: sign in again.
    setToken('');
    window.dispatchEvent(new Event('ocx-signed-out'));
  }
  if (!res.ok) {
    const msg = (data && data.error && data.error.message) || res.statusText || 'request failed';
    throw new APIError(res.status, msg);
  }
  return data;
}

export const api = {
  get: (path) => call('GET', path),
  post: (path, body) => call('POST', path, body ?? {}),
  del: (path) => call('DELETE', path),
  csv: (path) => call('GET', path, undefined, 'text/csv'),
  text: (path) => call('GET', path, undefined, 'text'),
};

export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => u.append(k, x));
    else u.set(k, v);
  }
  const s = u.toString();
  return s ? '?' + s : '';
}

// download saves text as a file the browser offers to the user.
export function download(name, text, type = 'text/csv') {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// OIDC authorization code flow with PKCE (a Cognito user pool's hosted UI
// or any OIDC provider the API's JWT authorizer trusts).
function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export async function oidcSignIn(cfg) {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
  store.setItem('ocx.pkce', JSON.stringify({ verifier, state, back: location.hash }));
  const u = new URL(cfg.authorize_url);
  u.search = new URLSearchParams({
    response_type: 'code', client_id: cfg.client_id, redirect_uri: location.origin + '/',
    scope: cfg.scope || 'openid email', state, code_challenge: challenge, code_challenge_method: 'S256',
  }).toString();
  location.assign(u.toString());
}

export async function oidcCallback(cfg) {
  const params = new URLSearchParams(location.search);
  const code = params.get('code');
  if (!code) return false;
  const saved = JSON.parse(store.getItem('ocx.pkce') || '{}');
  store.removeItem('ocx.pkce');
  if (!saved.state || saved.state !== params.get('state')) throw new Error('sign-in state does not match; sign in again');
  const res = await fetch(cfg.token_url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code', client_id: cfg.client_id, code,
      redirect_uri: location.origin + '/', code_verifier: saved.verifier,
    }),
  });
  if (!res.ok) throw new Error('sign-in failed: ' + res.status);
  const tok = await res.json();
  setToken(tok.access_token);
  history.replaceState(null, '', '/' + (saved.back || ''));
  return true;
}
