import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { auth, setToken, setUser, oidcSignIn, oidcCallback } from './api.js';
import { useRoute, href } from './route.js';
import { FailuresBoard, FailureDetail } from './failures.jsx';
import { CustomerSearch, CustomerPage } from './customer.jsx';
import { ScoresPage } from './scores.jsx';
import { IntakePage } from './intake.jsx';
import { RawPage } from './raw.jsx';
import './style.css';

const pages = [
  ['/failures', 'Failures'],
  ['/customers', 'Customers'],
  ['/scores', 'Scores'],
  ['/intake', 'Intake'],
];

function SignIn({ onDone }) {
  const [token, setT] = useState('');
  const [name, setN] = useState(auth.user);
  const cfg = auth.config?.auth || { mode: 'token' };
  if (cfg.mode === 'oidc') {
    return (
      <main id="main" class="signin">
        <h1>Sign in to OCX</h1>
        <button type="button" onClick={() => oidcSignIn(cfg)}>Sign in with your organisation</button>
      </main>
    );
  }
  return (
    <main id="main" class="signin">
      <h1>Sign in to OCX</h1>
      <form onSubmit={(e) => { e.preventDefault(); setToken(token.trim()); setUser(name.trim()); onDone(); }}>
        <label>API token <input type="password" name="token" autoComplete="current-password" value={token} onInput={(e) => setT(e.currentTarget.value)} required /></label>
        <label>Your name (recorded on what you acknowledge, assign and note) <input name="user" value={name} onInput={(e) => setN(e.currentTarget.value)} /></label>
        <button type="submit">Sign in</button>
      </form>
    </main>
  );
}

function App() {
  const route = useRoute();
  const [ready, setReady] = useState(false);
  const [signedIn, setSignedIn] = useState(!!auth.token);
  const [err, setErr] = useState('');
  useEffect(() => {
    const out = () => setSignedIn(false);
    window.addEventListener('ocx-signed-out', out);
    return () => window.removeEventListener('ocx-signed-out', out);
  }, []);
  useEffect(() => {
    fetch('/v1/console/config', { headers: { Accept: 'application/json' } })
      .then((r) => r.json())
      .then(async (cfg) => {
        auth.config = cfg;
        if (cfg.auth.mode === 'oidc' && (await oidcCallback(cfg.auth))) setSignedIn(true);
        if (!auth.token && cfg.auth.default_token) {
          setToken(cfg.auth.default_token);
          setSignedIn(true);
        }
        setReady(true);
      })
      .catch((e) => { setErr('Cannot reach OCX: ' + e.message); setReady(true); });
  }, []);
  if (!ready) return <main id="main"><p>Loading…</p></main>;
  if (err) return <main id="main"><p class="error" role="alert">{err}</p></main>;
  if (!signedIn) return <SignIn onDone={() => setSignedIn(true)} />;
  const [top, id] = route.parts;
  let page;
  switch ('/' + (top || 'failures')) {
    case '/customers':
      page = id ? <CustomerPage id={id} key={id} /> : <CustomerSearch query={route.query} />;
      break;
    case '/scores':
      page = <ScoresPage query={route.query} />;
      break;
    case '/intake':
      page = <IntakePage query={route.query} />;
      break;
    case '/raw':
      page = <RawPage query={route.query} />;
      break;
    default:
      page = id ? <FailureDetail id={id} key={id} /> : <FailuresBoard query={route.query} />;
  }
  const signOut = () => {
    setToken('');
    setSignedIn(false);
    const out = auth.config?.auth?.logout_url;
    if (out) location.assign(out);
  };
  return (
    <>
      <a class="skip" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
      <header class="top">
        <span class="brand">OCX</span>
        <nav aria-label="Console">
          {pages.map(([p, label]) => <a href={href(p)} aria-current={'/' + (top || 'failures') === p ? 'page' : undefined}>{label}</a>)}
        </nav>
        <span class="who">{auth.user || ''} <button type="button" class="link" onClick={signOut}>Sign out</button></span>
      </header>
      <main id="main" tabIndex={-1}>{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app'));
