// The console in a real browser against a running OCX: each page shows the
// figures the API returns (fetched here, never written down), the actions
// round-trip (assign, note, acknowledge, resolve, unmerge, erase, replay),
// a chart's URL restores it, axe-core finds no serious accessibility
// violation, no CSP violation is reported, and screenshots are written at
// desktop and phone widths.
//
// Driven by internal/localstack's TestConsoleInBrowser, which starts the
// stack, loads the demo and passes what to look at in the environment:
//   OCX_URL, OCX_TOKEN, OCX_SHOTS (screenshot folder), OCX_FAILURE (an open
//   failure id), OCX_CUSTOMER_EMAIL (a customer with a merge), OCX_ABSORBED
//   (the merged-in customer id), OCX_ERASE (a customer id to erase),
//   OCX_BADROW (a quarantined bad row id), OCX_RESULT (a JSON file this
//   script writes what it did to).
import { chromium } from 'playwright-core';
import { readFileSync, writeFileSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import assert from 'node:assert/strict';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const base = env('OCX_URL');
const token = env('OCX_TOKEN');
const shots = env('OCX_SHOTS');
const user = 'Dana Lead';
mkdirSync(shots, { recursive: true });
const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

async function API(path, accept = 'application/json') {
  const res = await fetch(base + path, { headers: { Authorization: 'Bearer ' + token, Accept: accept } });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: ${res.status} ${text}`);
  return accept === 'text/csv' ? text : JSON.parse(text);
}
const apiStatus = async (path) => (await fetch(base + path, { headers: { Authorization: 'Bearer ' + token } })).status;

const result = { screenshots: [], axe: {}, checks: [] };
const check = (what) => result.checks.push(what);

// Headers first: the page and an asset, as a browser gets them.
{
  const page = await fetch(base + '/');
  assert.equal(page.status, 200);
  assert.equal(page.headers.get('cache-control'), 'no-cache');
  const csp = page.headers.get('content-security-policy');
  assert.match(csp, /script-src 'self'/);
  assert.match(csp, /frame-ancestors 'none'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
  const html = await page.text();
  const js = html.match(/src="(\/assets\/[^"]+\.js)"/)[1];
  const asset = await fetch(base + js, { headers: { 'Accept-Encoding': 'gzip' } });
  assert.equal(asset.status, 200);
  assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
  assert.match(asset.headers.get('content-type'), /^text\/javascript/);
  check('headers: page no-cache with CSP, hashed asset immutable');
}

const profile = mkdtempSync(join(tmpdir(), 'ocx-chromium-'));
const ctx = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.OCX_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  acceptDownloads: true,
  viewport: { width: 1280, height: 900 },
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const problems = [];
const page = ctx.pages()[0] || (await ctx.newPage());
page.setDefaultTimeout(15000);
page.on('console', (m) => {
  if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push('console: ' + m.text());
});
page.on('pageerror', (e) => problems.push('page error: ' + e.message));

async function axe(name) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const serious = r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  result.axe[name] = r.violations.map((v) => `${v.impact} ${v.id} (${v.nodes.length})`);
  assert.deepEqual(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join(', ')}`), [], `axe on ${name}`);
}

async function shoot(name) {
  for (const [w, h, label] of [[1280, 900, 'desktop'], [390, 844, 'phone']]) {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForTimeout(150);
    const file = join(shots, `${name}-${label}.png`);
    await page.screenshot({ path: file, fullPage: true });
    result.screenshots.push(file);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
}

const hashGo = async (hash) => {
  await page.evaluate((h) => { location.hash = h; }, hash);
};

try {
  // Sign in with the token, as a person would.
  await page.goto(base + '/');
  await page.getByLabel('API token').fill(token);
  await page.getByLabel(/Your name/).fill(user);
  await axe('sign-in');
  await page.getByRole('button', { name: 'Sign in' }).click();

  // Failures board: the open failures the API lists, in its order.
  const listed = await API('/v1/failures?state=open&limit=25');
  await page.locator('table.board tbody tr[data-id]').first().waitFor();
  const ids = await page.locator('table.board tbody tr[data-id]').evaluateAll((rows) => rows.map((r) => r.dataset.id));
  assert.deepEqual(ids, listed.failures.map((f) => f.id), 'board rows are the API listing');
  if (listed.next) await page.getByTestId('next-page').waitFor();
  check(`board: ${ids.length} open failures in the API's order`);
  // A filter is in the URL and narrows like the API does.
  // The rarest severity on the page, so the filter visibly narrows it.
  const counts = {};
  for (const f of listed.failures) counts[f.severity] = (counts[f.severity] || 0) + 1;
  const sev = Object.entries(counts).sort((a, b) => a[1] - b[1])[0][0];
  await page.getByLabel('Severity').selectOption(sev);
  await page.waitForFunction((s) => location.hash.includes('severity=' + s), sev);
  const bySev = await API('/v1/failures?state=open&limit=25&severity=' + sev);
  await page.waitForFunction((n) => document.querySelectorAll('table.board tbody tr[data-id]').length === n, bySev.failures.length);
  check(`board: severity=${sev} filter shows the API's ${bySev.failures.length}`);
  await axe('failures');
  await shoot('failures');

  // One failure: evidence as the API has it; assign, note, acknowledge, resolve.
  const fid = env('OCX_FAILURE');
  await hashGo('#/failures/' + fid);
  await page.getByTestId('failure-detail').waitFor();
  const before = await API('/v1/failures/' + fid);
  assert.equal(await page.getByTestId('evidence').locator('tbody tr').count(), before.evidence.length, 'evidence rows');
  assert.equal(await page.getByTestId('failure-state').textContent(), before.state);
  await page.getByLabel('Assign to').fill('Sam Agent');
  await page.getByRole('button', { name: 'Assign' }).click();
  await page.getByTestId('assignee').filter({ hasText: 'Sam Agent' }).waitFor();
  await page.getByLabel('Note').fill('Called the customer back');
  await page.getByRole('button', { name: 'Add note' }).click();
  await page.getByTestId('activity').filter({ hasText: 'Called the customer back' }).waitFor();
  assert.match(await page.getByTestId('activity').locator('li').first().textContent(), /assigned to Sam Agent/, 'activity in the order it happened');
  await page.getByRole('button', { name: 'Acknowledge' }).click();
  await page.locator('[data-testid=failure-detail][data-state=acknowledged]').waitFor();
  await axe('failure');
  await shoot('failure');
  const acked = await API('/v1/failures/' + fid);
  const step = acked.history[acked.history.length - 1];
  assert.equal(step.state, 'acknowledged');
  assert.equal(step.by, 'console:' + user);
  assert.equal(acked.assignment.assignee, 'Sam Agent');
  assert.equal(acked.activity.find((a) => a.kind === 'note').text, 'Called the customer back');
  check('failure: assign, note and acknowledge recorded with who and when');
  result.acknowledged = fid;

  // Customer timeline: find by email; identities, merges and every item
  // of the API's view on the time axis.
  await hashGo('#/customers');
  await page.getByLabel(/Email, phone/).fill(env('OCX_CUSTOMER_EMAIL'));
  await page.getByRole('button', { name: 'Find' }).click();
  await page.getByTestId('customer').waitFor();
  const cid = await page.getByTestId('customer').getAttribute('data-id');
  const view = await API(`/v1/customers/${cid}?interactions=200`);
  assert.equal(await page.getByTestId('interactions-total').textContent(), String(view.interactions_total));
  assert.equal(await page.getByTestId('identities').locator('tbody tr').count(), view.identities.length);
  const stages = view.journeys.reduce((a, j) => a + (j.history || []).length, 0);
  const linked = view.identities.filter((k) => k.linked_at).length;
  const items = view.interactions.length + stages + (view.raised_failures || view.failures).length + linked + view.merges.length;
  assert.equal(await page.getByTestId('timeline').locator('li').count(), items, 'timeline items');
  const channels = new Set(view.interactions.map((i) => i.channel));
  for (const ch of channels) assert.ok(await page.getByTestId('timeline').locator('li[data-kind=interaction]', { hasText: ch }).count() > 0, 'channel ' + ch);
  check(`customer: ${items} timeline items across ${channels.size} channels`);
  await axe('customer');
  await shoot('customer');
  // A customer of the demo seen on several channels: the same checks.
  const rich = env('OCX_RICH_CUSTOMER');
  await hashGo('#/customers/' + rich);
  await page.locator(`[data-testid=customer][data-id="${rich}"]`).waitFor();
  const rv = await API(`/v1/customers/${rich}?interactions=200`);
  const rItems = rv.interactions.length + rv.journeys.reduce((a, j) => a + (j.history || []).length, 0) + (rv.raised_failures || rv.failures).length +
    rv.identities.filter((k) => k.linked_at).length + rv.merges.length;
  assert.equal(await page.getByTestId('timeline').locator('li').count(), rItems, 'timeline items of ' + rich);
  assert.equal(await page.getByTestId('journeys').locator(':scope > li').count(), Math.max(1, rv.journeys.length));
  const rChannels = new Set(rv.interactions.map((i) => i.channel));
  check(`customer: ${rItems} timeline items across ${rChannels.size} channels (${[...rChannels].join(', ')}), ${rv.journeys.length} journeys`);
  await shoot('customer-timeline');
  // An interaction's raw payload, as archived.
  await page.getByTestId('timeline').locator('a.rawlink').first().click();
  await page.getByTestId('raw').waitFor();
  const ref = new URLSearchParams(page.url().split('?')[1]).get('ref');
  const rawText = await (await fetch(base + '/v1/raw?ref=' + encodeURIComponent(ref), { headers: { Authorization: 'Bearer ' + token } })).text();
  const want = JSON.parse(rawText);
  try { want.body = JSON.parse(want.body); } catch { /* a non-JSON body stays a string */ }
  assert.deepEqual(JSON.parse(await page.getByTestId('raw').textContent()), want, 'raw payload shown as archived');
  check('customer: an interaction\'s raw payload as the archive holds it');
  await axe('raw');
  await shoot('raw');
  await hashGo('#/customers/' + cid);
  await page.locator(`[data-testid=customer][data-id="${cid}"]`).waitFor();
  // Unmerge, confirmed.
  const absorbed = env('OCX_ABSORBED');
  await page.locator(`[data-merge="${absorbed}"] button`).click();
  await axe('unmerge-dialog');
  await page.getByTestId('confirm').click();
  await page.locator(`[data-merge="${absorbed}"][data-state=unmerged]`).waitFor();
  const after = await API(`/v1/customers/${cid}`);
  assert.equal(after.merges.find((m) => m.absorbed === absorbed).state, 'unmerged');
  check('customer: unmerge round-trip');
  // Erase another customer, confirmed; the audit record remains.
  const erase = env('OCX_ERASE');
  await hashGo('#/customers/' + erase);
  await page.getByRole('button', { name: 'Erase this customer…' }).click();
  await page.getByLabel(/Request reference/).fill('REQ-42');
  await page.getByTestId('confirm').click();
  await page.getByTestId('erased').waitFor();
  assert.equal(await apiStatus('/v1/customers/' + erase), 410);
  check('customer: erasure leaves only the audit record (410)');

  // Scores: NPS by day over the demo's month; table = API points; the URL
  // restores the chart; group by channel; CSV is what is shown.
  const from = process.env.OCX_FROM;
  const to = process.env.OCX_TO;
  const q = `metric=nps&granularity=week&from=${from}&to=${to}`;
  await hashGo('#/scores?' + q);
  const nps = await API(`/v1/metrics/nps?granularity=week&from=${from}&to=${to}`);
  const answered = nps.points.filter((p) => p.n > 0 || p.value !== null);
  await page.getByTestId('points').waitFor();
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=points] tbody tr').length === n, answered.length);
  const rows = await page.getByTestId('points').locator('tbody tr').evaluateAll((trs) => trs.map((tr) => ({
    start: tr.dataset.start, n: tr.querySelector('[data-testid=n]').textContent, value: tr.querySelector('[data-testid=value]').textContent,
    low: tr.classList.contains('low'),
  })));
  assert.deepEqual(rows.map((r) => [r.start, Number(r.n), r.low]), answered.map((p) => [p.start, p.n, p.low_sample]));
  for (let i = 0; i < rows.length; i++) {
    const v = answered[i].value;
    assert.equal(rows[i].value, v === null ? '—' : Number.isInteger(v) ? String(v) : v.toFixed(1));
  }
  assert.ok(answered.some((p) => p.ci_low !== null), 'NPS points carry intervals');
  assert.equal(await page.locator('.chart canvas').count() > 0, true, 'the chart is drawn');
  check(`scores: ${rows.length} NPS points with n, value and low_sample as the API has them`);
  await axe('scores');
  await shoot('scores');
  // Group by channel: the URL records it, a reload restores it.
  await page.getByLabel('Group by').selectOption('channel');
  await page.waitForFunction(() => location.hash.includes('group_by=channel'));
  const url = page.url();
  await page.goto('about:blank');
  await page.goto(url);
  await page.getByTestId('points').waitFor();
  assert.equal(await page.getByLabel('Group by').inputValue(), 'channel');
  assert.equal(await page.getByLabel('Metric').inputValue(), 'nps');
  const grouped = await API(`/v1/metrics/nps?granularity=week&from=${from}&to=${to}&group_by=channel`);
  const groupRows = grouped.groups.reduce((a, g) => a + g.points.filter((p) => p.n > 0 || p.value !== null).length, 0);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=points] tbody tr').length === n, groupRows);
  check(`scores: the URL restores nps grouped by channel (${grouped.groups.length} groups)`);
  const [dl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download CSV' }).click()]);
  const csv = readFileSync(await dl.path(), 'utf8');
  assert.equal(csv, await API(`/v1/metrics/nps?granularity=week&from=${from}&to=${to}&group_by=channel`, 'text/csv'));
  check('scores: the CSV download is the API\'s CSV of what is shown');
  // Time in stage: p50/p90/p99 per stage.
  await hashGo(`#/scores?metric=time_in_stage&group_by=stage&granularity=week&from=${from}&to=${to}`);
  const tis = await API(`/v1/metrics/time_in_stage?group_by=stage&granularity=week&from=${from}&to=${to}`);
  const tisRows = tis.groups.reduce((a, g) => a + g.points.filter((p) => p.n > 0 || p.value !== null).length, 0);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=points] tbody tr').length === n && n > 0, tisRows);
  check(`scores: time in stage, ${tisRows} stage-weeks with p50/p90/p99`);
  await shoot('time-in-stage');
  // MTTR per team.
  await hashGo(`#/scores?metric=mttr&group_by=team&granularity=month&from=${from}&to=${to}`);
  const mttr = await API(`/v1/metrics/mttr?group_by=team&granularity=month&from=${from}&to=${to}`);
  const mttrRows = mttr.groups.reduce((a, g) => a + g.points.filter((p) => p.n > 0 || p.value !== null).length, 0);
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=points] tbody tr').length === n, mttrRows);
  check(`scores: MTTR per team, ${mttrRows} team-months`);

  // Intake: accepted per channel = the interactions metric; bad rows = the
  // API's; replay one.
  await hashGo(`#/intake?granularity=day`);
  const acc = await API('/v1/metrics/interactions?group_by=channel&granularity=day');
  await page.getByTestId('intake-counts').waitFor();
  for (const g of acc.groups) {
    const total = g.points.reduce((a, p) => a + (p.value || 0), 0);
    assert.equal(await page.locator(`[data-testid=intake-counts] tr[data-channel="${g.group.channel}"] [data-testid=accepted]`).textContent(), String(total), g.group.channel);
  }
  const bad = await API('/v1/badrows?state=quarantined&limit=200');
  await page.getByTestId('badrows').waitFor();
  const badIds = await page.getByTestId('badrows').locator('tbody tr[data-id]').evaluateAll((trs) => trs.map((t) => t.dataset.id));
  assert.deepEqual(badIds, bad.bad_rows.map((r) => r.id));
  check(`intake: ${acc.groups.length} channels' counts and ${badIds.length} bad rows as the API has them`);
  await axe('intake');
  await shoot('intake');
  const brid = env('OCX_BADROW');
  const replaysBefore = bad.bad_rows.find((r) => r.id === brid).replays;
  await page.getByRole('button', { name: 'Replay bad row ' + brid }).click();
  await page.getByText(/Replayed 1 of 1/).waitFor();
  const rows2 = await API('/v1/badrows?limit=200');
  assert.equal(rows2.bad_rows.find((r) => r.id === brid).replays, replaysBefore + 1);
  check('intake: replay round-trip');

  // Resolve the acknowledged failure last, so the stack sees both steps.
  await hashGo('#/failures/' + fid);
  await page.getByRole('button', { name: 'Resolve' }).click();
  await page.locator('[data-testid=failure-detail][data-state=resolved]').waitFor();
  assert.equal((await API('/v1/failures/' + fid)).state, 'resolved');
  check('failure: resolve round-trip');

  const csp = problems.filter((p) => /Content Security Policy|Refused to/.test(p));
  assert.deepEqual(csp, [], 'CSP violations');
  assert.deepEqual(problems, [], 'console errors');
} catch (e) {
  await page.screenshot({ path: join(shots, 'failed.png'), fullPage: true }).catch(() => {});
  result.error = String(e.stack || e);
  result.problems = problems;
  throw e;
} finally {
  await ctx.close();
  rmSync(profile, { recursive: true, force: true });
  if (process.env.OCX_RESULT) writeFileSync(process.env.OCX_RESULT, JSON.stringify(result, null, 2));
  for (const c of result.checks) console.log('ok  ' + c);
}
