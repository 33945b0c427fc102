import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { buildImage, buildMultiArchIndex, writeOciLayout } from '../support/oci-image-builder.ts';
import { REPO_ROOT, startServerProcess, type ServerProcess } from '../support/server-process.ts';
import { skopeoOk } from '../support/skopeo.ts';

/**
 * The web UI in a real browser: Debian's chromium driven by playwright-core, against a Berth
 * process serving the built UI. Screenshots of the main pages go to test-artifacts/web-ui/.
 */
const CHROMIUM = process.env.BERTH_TEST_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join(REPO_ROOT, 'test-artifacts', 'web-ui');
const STEP_MS = 20_000;
const run = promisify(execFile);

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? await newestMtime(path) : (await stat(path)).mtimeMs);
  }
  return newest;
}

/** Builds web/dist when it is missing or older than the UI's sources. */
async function ensureUiBuilt(): Promise<void> {
  const web = join(REPO_ROOT, 'web');
  const built = await stat(join(web, 'dist', 'index.html')).then((s) => s.mtimeMs, () => 0);
  const sources = Math.max(await newestMtime(join(web, 'src')), (await stat(join(web, 'index.html'))).mtimeMs, (await stat(join(web, 'vite.config.ts'))).mtimeMs);
  if (built > sources) return;
  await run('npm', ['run', 'build', '-w', 'web'], { cwd: REPO_ROOT, timeout: 120_000 });
}

describe('web UI in headless Chromium', { timeout: 300_000 }, () => {
  let server: ServerProcess;
  let browser: Browser;
  let work: string;
  const image = buildImage({ seed: 'web-ui', layers: 3, payloadBytes: 300 * 1024, labels: { 'org.opencontainers.image.source': 'https://example.com/team/app', maintainer: 'team@example.com' } });
  const multi = buildMultiArchIndex('web-ui-multi');
  const GUEST = { user: 'gina', password: 'gina-guest-password' };

  const adminAuth = () => `Basic ${Buffer.from(`admin:${server.adminPassword}`).toString('base64')}`;
  async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${server.url}${path}`, {
      method,
      headers: { authorization: adminAuth(), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const json = (await res.json()) as { code: number; data: T; message: string };
    assert.equal(res.status, 200, `${method} ${path}: ${json.message}`);
    return json.data;
  }

  async function push(layoutName: string, root: typeof image | typeof multi, ref: string): Promise<void> {
    const layout = join(work, layoutName);
    await writeOciLayout(layout, 'v', root);
    await skopeoOk(['copy', '--all', '--dest-creds', `admin:${server.adminPassword}`, '--dest-tls-verify=false', `oci:${layout}:v`, `docker://${server.host}/${ref}`]);
  }

  async function newPage(viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport, baseURL: server.url });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_MS);
    return { context, page };
  }

  /** Signs in on `path` (a deep link: the sign-in form keeps the address, the page opens after it). */
  async function signIn(page: Page, user: string, password: string, path = '/'): Promise<void> {
    await page.goto(path);
    await page.getByLabel('User name').fill(user);
    await page.getByRole('textbox', { name: 'Password' }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('user').filter({ hasText: user }).waitFor();
  }

  /** In-app navigation (a reload would sign out: the session lives in the tab's memory only). */
  async function open(page: Page, path: string): Promise<void> {
    await page.evaluate((to) => {
      history.pushState(null, '', to);
      dispatchEvent(new PopStateEvent('popstate'));
    }, path);
  }

  const shot = (page: Page, name: string, fullPage = true) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage });

  before(async () => {
    await ensureUiBuilt();
    await mkdir(ARTIFACTS, { recursive: true });
    work = await mkdtemp(join(tmpdir(), 'berth-e2e-web-'));
    server = await startServerProcess();
    await push('app', image, 'demo/docker/team/app:1.0');
    await push('multi', multi, 'demo/docker/multi:2.0');
    await api('PUT', '/repository/api/project/update/demo', { displayName: 'Demo', description: 'Images of the demo team' });
    await api('POST', '/auth/api/user/create', { userId: GUEST.user, pwd: GUEST.password });
    await api('PUT', '/repository/api/project/demo/members', { userId: GUEST.user, role: 'guest' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await server?.dispose();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('refuses a wrong password with the server\'s message, and shows the sign-in page for deep links', async () => {
    const { context, page } = await newPage();
    await page.goto('/p/demo/docker');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await shot(page, '01-sign-in');
    await page.getByLabel('User name').fill('admin');
    await page.getByRole('textbox', { name: 'Password' }).fill('not-the-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Sign-in failed' }).waitFor();
    await context.close();
  });

  it('signs in, browses to the image, opens its tag detail with layers, pull command and manifest', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'admin', server.adminPassword!);
    await page.getByRole('link', { name: 'Demo' }).waitFor();
    await shot(page, '02-projects');
    await page.getByRole('link', { name: 'Demo' }).click();
    await page.getByRole('link', { name: 'docker', exact: true }).waitFor();
    await shot(page, '03-project');
    await page.getByRole('link', { name: 'docker', exact: true }).click();

    // Images: both pushed, then the search narrows to one.
    await page.getByRole('link', { name: 'team/app' }).waitFor();
    await page.getByRole('link', { name: 'multi' }).waitFor();
    await shot(page, '04-images');
    await page.getByLabel('Search images by name').fill('app');
    await page.waitForURL(/q=app/);
    await page.getByRole('link', { name: 'multi' }).waitFor({ state: 'detached' });
    assert.equal(await page.locator('tr[data-image]').count(), 1);
    await page.getByRole('link', { name: 'team/app' }).click();

    // Tags
    await page.waitForURL(/\/p\/demo\/docker\/team\/app$/);
    const row = page.locator('tr[data-tag="1.0"]');
    await row.waitFor();
    assert.match(await row.innerText(), /none/);
    assert.match(await row.innerText(), /KiB/, 'sizes are human-readable');
    await shot(page, '05-tags');
    await row.getByRole('link', { name: '1.0' }).click();

    // Tag detail
    await page.waitForURL(/team\/app:1\.0$/);
    const layers = page.getByTestId('layers').locator('tbody tr');
    await layers.first().waitFor();
    assert.equal(await layers.count(), image.layers.length);
    for (const [i, layer] of image.layers.entries()) {
      const text = await layers.nth(i).innerText();
      assert.ok(text.includes(layer.digest), `layer ${i} digest in ${text}`);
      assert.match(text, /KiB/);
    }
    assert.equal(await page.getByTestId('docker-pull').innerText(), `docker pull ${server.host}/demo/docker/team/app:1.0`);
    assert.match(await page.getByTestId('podman-pull').innerText(), new RegExp(`^podman pull .*${server.host}/demo/docker/team/app:1\\.0$`));
    assert.equal(await page.getByTestId('digest').innerText(), image.digest);
    assert.equal(await page.getByTestId('platform').innerText(), 'linux / amd64');
    await page.getByText('maintainer').waitFor();
    const manifest = JSON.parse(await page.getByTestId('manifest').innerText()) as { config: { digest: string } };
    assert.equal(manifest.config.digest, image.config.digest);
    await shot(page, '06-tag-detail');
    await page.screenshot({ path: join(ARTIFACTS, 'tag-detail-viewport.png') });
    await context.close();
  });

  it('shows the platforms of a multi-arch index', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'admin', server.adminPassword!, '/p/demo/docker/multi:2.0');
    const rows = page.getByTestId('platforms').locator('tbody tr');
    await rows.first().waitFor();
    const text = await page.getByTestId('platforms').innerText();
    assert.match(text, /linux\/amd64/);
    assert.match(text, /linux\/arm64\/v8/);
    await shot(page, '07-multi-arch');
    await context.close();
  });

  it('fits a phone-sized screen', async () => {
    const { context, page } = await newPage({ width: 390, height: 844 });
    await signIn(page, 'admin', server.adminPassword!, '/p/demo/docker/team/app:1.0');
    await page.getByTestId('layers').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `no horizontal page scroll on a phone (overflow ${overflow}px)`);
    await shot(page, '08-phone-tag-detail');
    await context.close();
  });

  it('shows a guest no delete or promote buttons', async () => {
    const { context, page } = await newPage();
    await signIn(page, GUEST.user, GUEST.password, '/p/demo/docker');
    await page.getByRole('link', { name: 'team/app' }).waitFor();
    assert.equal(await page.getByRole('button', { name: /delete/i }).count(), 0);
    await page.getByRole('link', { name: 'team/app' }).click();
    await page.locator('tr[data-tag="1.0"]').waitFor();
    assert.equal(await page.getByRole('button', { name: /delete|promote/i }).count(), 0);
    await page.getByRole('link', { name: '1.0' }).click();
    await page.getByTestId('layers').waitFor();
    assert.equal(await page.getByRole('button', { name: /delete|promote/i }).count(), 0);
    await shot(page, '09-guest-tag-detail');
    // The project page offers a guest no management either.
    await open(page, '/p/demo');
    await page.getByRole('link', { name: 'docker', exact: true }).waitFor();
    assert.equal(await page.getByRole('button', { name: /new repo|make public/i }).count(), 0);
    assert.equal(await page.getByRole('heading', { name: 'Members' }).count(), 0);
    await context.close();
  });

  it('promotes the tag\'s stage, then deletes the image after a confirmation', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'admin', server.adminPassword!, '/p/demo/docker/team/app:1.0');
    await page.getByRole('button', { name: 'Promote to prerelease' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Promote to prerelease' }).click();
    await page.getByRole('button', { name: 'Promote to release' }).waitFor();
    await page.getByRole('button', { name: 'Promote to release' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Promote to release' }).click();
    await page.locator('[data-stage="@release"]').waitFor();
    assert.equal(await page.getByRole('button', { name: /^Promote/ }).count(), 0, 'release is the last stage');
    const tags = await api<{ tag: string; status: string }[]>('GET', '/docker/api/tag/demo/docker/team/app');
    assert.equal(tags[0]!.status, '@release');

    await open(page, '/p/demo/docker');
    await page.getByRole('button', { name: 'Delete image team/app' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText('This cannot be undone').waitFor();
    await shot(page, '10-confirm-delete', false);
    // Cancel first: nothing happens.
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await page.getByRole('link', { name: 'team/app' }).waitFor();
    await page.getByRole('button', { name: 'Delete image team/app' }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Delete image' }).click();
    await page.getByRole('link', { name: 'team/app' }).waitFor({ state: 'detached' });
    const images = await api<{ name: string }[]>('GET', '/docker/api/repo/demo/docker');
    assert.deepEqual(images.map((i) => i.name), ['multi']);
    await context.close();
  });

  it('creates an access token shown once, and signs in with it', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'admin', server.adminPassword!);
    await page.getByRole('link', { name: 'Tokens' }).click();
    await page.getByLabel('Name').fill('laptop');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.getByTestId('new-token').innerText()).trim();
    assert.match(token, /^bpat_/);
    await shot(page, '11-tokens');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    await page.locator('label', { hasText: 'Access token' }).click();
    await page.getByRole('textbox', { name: 'Personal access token' }).fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('user').filter({ hasText: 'admin' }).waitFor();
    await context.close();
  });

  it('asks to sign in again when the session ends, and then carries on where it was', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'admin', server.adminPassword!, '/p/demo/docker');
    await page.getByRole('link', { name: 'multi' }).waitFor();
    // End the session from elsewhere: revoke the browser session's token.
    const tokens = await api<{ name: string }[]>('GET', '/auth/api/user/list/token/admin');
    for (const t of tokens.filter((x) => x.name.startsWith('web-session-'))) await api('DELETE', `/auth/api/user/token/admin/${t.name}`);
    await page.getByRole('link', { name: 'multi' }).click();
    const dialog = page.getByRole('dialog', { name: 'Sign in again' });
    await dialog.waitFor();
    await shot(page, '12-session-ended', false);
    await dialog.getByRole('textbox', { name: 'Password' }).fill(server.adminPassword!);
    await dialog.getByRole('button', { name: 'Sign in' }).click();
    await dialog.waitFor({ state: 'detached' });
    await page.locator('tr[data-tag="2.0"]').waitFor();
    assert.match(page.url(), /\/p\/demo\/docker\/multi$/);
    await context.close();
  });
});
