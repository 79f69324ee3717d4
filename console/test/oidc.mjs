// The console's sign-in with an OIDC provider (authorization code with
// PKCE), in Chromium: the page sends the person to the provider, takes the
// code back, exchanges it with the verifier and calls the API with the
// access token. Driven by internal/console's TestOIDCSignInInBrowser,
// which serves the console and a stand-in provider and API over TLS at
// OCX_URL and checks what they received.
import { chromium } from 'playwright-core';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const base = process.env.OCX_URL;
const profile = mkdtempSync(join(tmpdir(), 'ocx-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.OCX_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  ignoreHTTPSErrors: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const problems = [];
try {
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(15000);
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(base + '/#/failures?state=open');
  await page.getByRole('button', { name: 'Sign in with your organisation' }).click();
  // The provider redirects back; the page exchanges the code and lands
  // where the person started.
  await page.getByRole('heading', { name: 'Failures' }).waitFor();
  await page.waitForFunction(() => location.search === '' && location.hash.startsWith('#/failures'));
  if (problems.length) throw new Error('browser errors: ' + problems.join('; '));
  console.log('ok  signed in with PKCE and called the API with the access token');
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
}
