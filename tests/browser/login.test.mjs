// Browser end-to-end tests of the login without an outpost: Debian Chromium (playwright-core),
// the authentik-shaped IdP of tests/idp, nginx with the module, and the echo app.
//
//   AUTHENTIK_TEST_NGINX=<nginx> AUTHENTIK_TEST_MODULE=<module .so> npm test
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  echoHeaders, idpAdmin, launchBrowser, nginxPaths, onLoginForm, root, sessionCookies, startStack, submitLogin,
} from './harness.mjs';

nginxPaths(); // without AUTHENTIK_TEST_NGINX and AUTHENTIK_TEST_MODULE, fail here, once, clearly

// Each test and hook may take two minutes at most (the per-test option, not --test-timeout,
// which Node 18 lacks).
const TIMEOUT = { timeout: 120000 };

// The login-state cookies a browser keeps at once, read from the code (core/src/login.rs).
const MAX_LOGIN_STATES = Number(/pub const MAX_LOGIN_STATES: usize = (\d+);/
  .exec(fs.readFileSync(path.join(root, 'core/src/login.rs'), 'utf8'))[1]);

const AKADMIN = ['akadmin', 'akadmin-password'];

const loginStates = async (context) => (await context.cookies()).filter((c) => /_login_/.test(c.name));
const ALICE = ['alice', 'alice-password'];

// Open a browser for one test; always closed, and never any non-loopback request.
async function withBrowser(stack, fn) {
  const b = await launchBrowser(stack);
  try {
    await fn(b);
    assert.deepEqual(b.blocked, [], 'the browser tried to reach a non-loopback host');
  } catch (e) {
    // what nginx and the IdP said, for the failure report
    let log = '';
    try { log = stack.nginx.errorLog().split('\n').filter((l) => /authentik: |\[(error|crit|alert|emerg)\]/.test(l)).slice(-15).join('\n'); } catch { /* gone */ }
    console.error(`--- nginx error.log (module and error lines, tail):\n${log}\n--- IdP requests (tail):\n${stack.idp.requests.slice(-15).join('\n')}`);
    throw e;
  } finally {
    await b.close();
  }
}

// Go to url, expect the IdP's login form, log in, expect to be back on the app at url.
async function loginVia(page, url, [user, password]) {
  const resp = await page.goto(url);
  assert.ok(resp, `no response for ${url}`);
  assert.ok(await onLoginForm(page), `expected the IdP login form after visiting ${url}, got ${page.url()}`);
  await submitLogin(page, user, password);
  assert.equal(page.url(), url, 'after login the browser is back on the URL it first asked for');
}

function assertAkadminHeaders(h, stack) {
  assert.equal(h.get('X-authentik-username'), 'akadmin');
  assert.ok(h.lines.includes('X-authentik-username: akadmin'), `headers were:\n${h.text}`);
  assert.equal(h.get('X-authentik-groups'), 'authentik Admins|users');
  assert.equal(h.get('X-authentik-email'), 'akadmin@example.test');
  assert.equal(h.get('X-authentik-name'), 'authentik Default Admin');
  assert.equal(h.get('X-authentik-entitlements'), 'app-admin');
  assert.match(h.get('X-authentik-uid') || '', /^[0-9a-f]{64}$/);
  assert.match(h.get('X-authentik-jwt') || '', /^[\w-]+\.[\w-]+\.[\w-]+$/, 'X-authentik-jwt is a JWT');
  assert.match(h.get('X-authentik-meta-version') || '', /^ngx_http_authentik_module\/\S+$/);
  assert.equal(h.get('X-authentik-meta-jwks'), `${stack.idp.issuer}jwks/`);
  assert.equal(h.get('X-authentik-meta-outpost'), 'nginx');
}

describe('single mode (app.test)', () => {
  let stack;
  before(async () => { stack = await startStack(); }, TIMEOUT);
  after(async () => { await stack?.stop(); }, TIMEOUT);

  test('a page load lands on the IdP login form, and after login the app gets the X-authentik-* headers', TIMEOUT, async () => {
    await withBrowser(stack, async ({ page, context }) => {
      const url = `${stack.app}/some/page?x=1`;
      const resp = await page.goto(url);
      assert.equal(resp.status(), 200);
      assert.ok(page.url().startsWith(`${stack.idp.origin}/interaction/`), `on ${page.url()}`);
      assert.ok(await onLoginForm(page));
      await submitLogin(page, ...AKADMIN);
      assert.equal(page.url(), url);
      const h = await echoHeaders(page);
      assertAkadminHeaders(h, stack);
      assert.equal(h.get('X-Foo'), 'bar', "akadmin's ak_proxy.user_attributes.additionalHeaders");
      const cookies = await sessionCookies(context);
      assert.equal(cookies.length, 1, `one session cookie: ${cookies.map((c) => c.name)}`);
      assert.equal(cookies[0].httpOnly, true);
      assert.equal(cookies[0].sameSite, 'Lax');
      assert.equal(cookies[0].domain, 'app.test');
      // the login-state cookie is gone once the login finished
      const left = (await context.cookies()).filter((c) => /_login_/.test(c.name));
      assert.deepEqual(left.map((c) => c.name), []);
    });
  });

  test('a reload after login makes no request to the IdP', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await loginVia(b.page, `${stack.app}/`, AKADMIN);
      const browserBefore = b.idpRequests.length;
      const idpBefore = stack.idp.requests.length;
      const resp = await b.page.reload();
      assert.equal(resp.status(), 200);
      await b.page.goto(`${stack.app}/another/page`);
      assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'akadmin');
      assert.deepEqual(b.idpRequests.slice(browserBefore), [], 'browser requests to the IdP');
      assert.deepEqual(stack.idp.requests.slice(idpBefore), [], 'requests the IdP served (browser or nginx)');
    });
  });

  test('a fetch() without a session gets 401, not a redirect; with the session it gets the headers', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await loginVia(b.page, `${stack.app}/`, AKADMIN);
      const call = () => b.page.evaluate(async () => {
        const r = await fetch('/api/data', { redirect: 'manual' });
        return { status: r.status, type: r.type, auth: r.headers.get('www-authenticate'), body: await r.text() };
      });
      const ok = await call();
      assert.equal(ok.status, 200);
      assert.match(ok.body, /X-authentik-username: akadmin/);
      await b.context.clearCookies();
      const before = b.idpRequests.length;
      const denied = await call();
      assert.equal(denied.status, 401, `fetch() without a session: ${JSON.stringify(denied.type)} ${denied.status}`);
      assert.equal(denied.auth, 'Bearer realm="authentik"');
      assert.deepEqual(b.idpRequests.slice(before), [], 'no request to the IdP');
      assert.deepEqual((await b.context.cookies()).filter((c) => /_login_/.test(c.name)).map((c) => c.name), [],
        'no login state is created for a non-navigational request');
    });
  });

  test('sign_out clears the session and the next visit asks for the login again', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await loginVia(b.page, `${stack.app}/`, AKADMIN);
      assert.equal((await sessionCookies(b.context)).length, 1);
      await b.page.goto(`${stack.app}/outpost.goauthentik.io/sign_out`);
      // the IdP's end-session page auto-confirms and ends on its "logged out" page
      await b.page.waitForSelector('#logout-success', { timeout: 20000 });
      assert.ok(b.idpRequests.some((r) => r.includes('/end-session/')), `IdP requests: ${b.idpRequests}`);
      assert.deepEqual((await sessionCookies(b.context)).map((c) => c.name), [], 'session cookies after sign_out');
      await b.page.goto(`${stack.app}/`);
      assert.ok(await onLoginForm(b.page), `expected the login form again, got ${b.page.url()}`);
    });
  });

  test('two tabs logging in at once both succeed', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      const one = b.page;
      const two = await b.context.newPage();
      const urls = [`${stack.app}/tab/one`, `${stack.app}/tab/two?b=2`];
      await Promise.all([one.goto(urls[0]), two.goto(urls[1])]);
      assert.ok(await onLoginForm(one), 'tab one shows the login form');
      assert.ok(await onLoginForm(two), 'tab two shows the login form');
      const pending = (await b.context.cookies()).filter((c) => /_login_/.test(c.name));
      assert.equal(pending.length, 2, `two login-state cookies: ${pending.map((c) => c.name)}`);
      await Promise.all([submitLogin(one, ...AKADMIN), submitLogin(two, ...AKADMIN)]);
      assert.equal(one.url(), urls[0]);
      assert.equal(two.url(), urls[1]);
      assert.equal((await echoHeaders(one)).get('X-authentik-username'), 'akadmin');
      assert.equal((await echoHeaders(two)).get('X-authentik-username'), 'akadmin');
    });
  });

  test(`${MAX_LOGIN_STATES} tabs (the login-state bound) started at once all log in`, TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      const pages = [b.page];
      while (pages.length < MAX_LOGIN_STATES) pages.push(await b.context.newPage());
      const urls = pages.map((_, i) => `${stack.app}/tabs/${i}?n=${i}`);
      await Promise.all(pages.map((p, i) => p.goto(urls[i])));
      for (const [i, p] of pages.entries()) assert.ok(await onLoginForm(p), `tab ${i} shows the login form`);
      const pending = await loginStates(b.context);
      assert.equal(pending.length, MAX_LOGIN_STATES, `login-state cookies: ${pending.map((c) => c.name)}`);
      await Promise.all(pages.map((p) => submitLogin(p, ...AKADMIN)));
      for (const [i, p] of pages.entries()) {
        assert.equal(p.url(), urls[i], `tab ${i} is back on its page`);
        assert.equal((await echoHeaders(p)).get('X-authentik-username'), 'akadmin', `tab ${i}`);
      }
      assert.deepEqual((await loginStates(b.context)).map((c) => c.name), [], 'every login state is used up');
    });
  });

  test('one tab more than the bound: the first is cleared, gets the 400 page, and its link logs in', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      const pages = [b.page];
      while (pages.length < MAX_LOGIN_STATES + 1) pages.push(await b.context.newPage());
      const urls = pages.map((_, i) => `${stack.app}/more/${i}`);
      // One after the other, within the same second or not: the first is the oldest.
      for (const [i, p] of pages.entries()) await p.goto(urls[i]);
      assert.equal((await loginStates(b.context)).length, MAX_LOGIN_STATES, 'the browser keeps the bound');
      await Promise.all(pages.map((p) => submitLogin(p, ...AKADMIN)));
      for (const [i, p] of pages.entries()) {
        if (i === 0) continue;
        assert.equal(p.url(), urls[i], `tab ${i} is back on its page`);
        assert.equal((await echoHeaders(p)).get('X-authentik-username'), 'akadmin', `tab ${i}`);
      }
      const first = pages[0];
      assert.ok(new URL(first.url()).pathname === '/outpost.goauthentik.io/callback', `tab 0 on ${first.url()}`);
      assert.equal(await first.locator('#login').count(), 1, `the 400 page has a login link: ${await first.content()}`);
      assert.equal(await first.locator('#headers').count(), 0, 'tab 0 never reached the app');
      await Promise.all([first.waitForURL((u) => u.host === new URL(stack.app).host && !u.pathname.startsWith('/outpost.goauthentik.io/'), { timeout: 20000 }), first.click('#login')]);
      await first.waitForLoadState('load');
      assert.equal((await echoHeaders(first)).get('X-authentik-username'), 'akadmin', `tab 0 after the link: ${first.url()}`);
    });
  });

  // A login-state cookie over 4,096 bytes is dropped by browsers: the return URL sealed in it is
  // capped (README, "Return URL"), and logins from long deep links complete.
  for (const [what, target, landing] of [
    ['a 3 KB deep link (its query dropped)', `/deep/page?q=${'q'.repeat(3000)}`, '/deep/page'],
    ['a 6 KB deep link (back to the root)', `/${'d'.repeat(6000)}`, '/'],
  ]) {
    test(`${what} completes the login`, TIMEOUT, async () => {
      await withBrowser(stack, async (b) => {
        const url = `${stack.app}${target}`;
        assert.ok(url.length > (target.length > 5000 ? 6000 : 3000));
        await b.page.goto(url);
        assert.ok(await onLoginForm(b.page), `login form, got ${b.page.url().slice(0, 200)}`);
        const states = await loginStates(b.context);
        assert.equal(states.length, 1, 'the browser kept the login-state cookie');
        assert.ok(states[0].name.length + states[0].value.length < 4096);
        await submitLogin(b.page, ...AKADMIN);
        assert.equal(b.page.url(), `${stack.app}${landing}`);
        assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'akadmin');
        // The deep link itself now opens with the session.
        const resp = await b.page.goto(url);
        assert.equal(resp.status(), 200);
        assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'akadmin');
      });
    });
  }
});

describe('domain mode (*.company.test)', () => {
  let stack;
  before(async () => { stack = await startStack(); }, TIMEOUT);
  after(async () => { await stack?.stop(); }, TIMEOUT);

  // Log in from `url` on a domain-mode host; returns the callback's response. Unlike loginVia it
  // does not require the final redirect to land on `url` (see the first test below).
  async function domainLogin(b, url, [user, password]) {
    await b.page.goto(url);
    assert.ok(await onLoginForm(b.page), `expected the IdP login form after visiting ${url}, got ${b.page.url()}`);
    const callback = b.page.waitForResponse((r) => r.url().startsWith(`${stack.auth}/outpost.goauthentik.io/callback`), { timeout: 20000 });
    await b.page.fill('#username', user);
    await b.page.fill('#password', password);
    await b.page.click('#login-submit', { noWaitAfter: true });
    const resp = await callback;
    // wait for wherever the callback's redirect leads (it may fail to load), then carry on in a
    // fresh tab so that a late error page cannot interrupt the test's next navigation
    await b.page.waitForURL((u) => !u.href.startsWith(stack.idp.origin) && !u.pathname.startsWith('/outpost.goauthentik.io/'),
      { timeout: 20000 }).catch(() => {});
    await b.page.waitForLoadState('load').catch(() => {});
    const landed = b.page.url();
    const old = b.page;
    b.page = await b.context.newPage();
    await old.close();
    assert.equal(resp.status(), 302, 'the callback on auth.company.test redirects back to the app');
    const cookies = await sessionCookies(b.context);
    assert.equal(cookies.length, 1, `one session cookie: ${cookies.map((c) => c.name)}`);
    assert.equal(cookies[0].domain, '.company.test', 'the session cookie is set for the whole domain');
    return { resp, landed };
  }

  test('after logging in on app1 the browser is sent back to the app1 URL it asked for, port included', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      const url = `${stack.app1}/one?q=1`;
      const { resp, landed } = await domainLogin(b, url, AKADMIN);
      assert.equal(resp.headers().location, url, 'Location of the callback\'s 302');
      assert.equal(landed, url, 'where the browser landed after the login');
      await b.page.goto(url);
      assertAkadminHeaders(await echoHeaders(b.page), stack);
    });
  });

  test('logging in on app1 gives access to app2 without a second login', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await domainLogin(b, `${stack.app1}/one`, AKADMIN);
      const before = b.idpRequests.length;
      const idpBefore = stack.idp.requests.length;
      const one = await b.page.goto(`${stack.app1}/one`);
      assert.equal(one.status(), 200);
      assertAkadminHeaders(await echoHeaders(b.page), stack);
      const resp = await b.page.goto(`${stack.app2}/two`);
      assert.equal(resp.status(), 200);
      assert.equal(b.page.url(), `${stack.app2}/two`);
      assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'akadmin');
      const admin = await b.page.goto(`${stack.app2}/admin/`);
      assert.equal(admin.status(), 200, 'akadmin is in "authentik Admins"');
      assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'akadmin');
      assert.deepEqual(b.idpRequests.slice(before), [], 'no browser request to the IdP for app2');
      assert.deepEqual(stack.idp.requests.slice(idpBefore), [], 'the IdP served nothing');
    });
  });

  test('authentik_require_group on app2 gives alice 403, never a redirect', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await domainLogin(b, `${stack.app1}/`, ALICE);
      await b.page.goto(`${stack.app1}/`);
      assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'alice');
      assert.equal((await echoHeaders(b.page)).get('X-authentik-groups'), 'users');
      const before = b.idpRequests.length;
      const navigations = [];
      b.page.on('response', (r) => { if (r.request().isNavigationRequest()) navigations.push(`${r.status()} ${r.url()}`); });
      const resp = await b.page.goto(`${stack.app2}/admin/`);
      assert.equal(resp.status(), 403);
      assert.equal(b.page.url(), `${stack.app2}/admin/`);
      assert.deepEqual(navigations, [`403 ${stack.app2}/admin/`], 'a single 403 response, no redirect');
      assert.deepEqual(b.idpRequests.slice(before), []);
      const open = await b.page.goto(`${stack.app2}/other`);
      assert.equal(open.status(), 200, 'the rest of app2 is open to alice');
      assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'alice');
    });
  });
});

describe('the IdP is down', () => {
  let stack;
  before(async () => { stack = await startStack(); }, TIMEOUT);
  after(async () => { await stack?.stop(); }, TIMEOUT);

  test('already-logged-in requests keep working after the IdP process is killed', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await loginVia(b.page, `${stack.app}/before`, AKADMIN);
      await stack.idp.kill('SIGKILL');
      const resp = await b.page.reload();
      assert.equal(resp.status(), 200);
      assertAkadminHeaders(await echoHeaders(b.page), stack);
      const other = await b.page.goto(`${stack.app}/after`);
      assert.equal(other.status(), 200);
      assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'akadmin');
    });
  });
});

describe('a token larger than 4 KB', () => {
  let stack;
  before(async () => {
    stack = await startStack({ idpEnv: { IDP_BIG_CLAIMS: '6000', IDP_BIG_CLAIMS_USERS: 'akadmin' } });
  }, TIMEOUT);
  after(async () => { await stack?.stop(); }, TIMEOUT);

  test('is stored in chunked cookies NAME and NAME_1 and still logs in', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await loginVia(b.page, `${stack.app}/big`, AKADMIN);
      const h = await echoHeaders(b.page);
      assertAkadminHeaders(h, stack);
      assert.ok(h.get('X-authentik-jwt').length > 6000, `jwt is ${h.get('X-authentik-jwt').length} bytes`);
      const names = (await sessionCookies(b.context)).map((c) => c.name).sort();
      assert.ok(names.length >= 2, `chunked cookies: ${names}`);
      const base = names[0];
      assert.match(base, /^authentik_nginx_[0-9a-f]{8}$/);
      assert.ok(names.includes(`${base}_1`), `${base}_1 among ${names}`);
      for (const c of await sessionCookies(b.context)) assert.ok(c.value.length < 4096, `${c.name} is ${c.value.length} bytes`);
      const again = await b.page.reload();
      assert.equal(again.status(), 200);
      assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'akadmin');
    });
  });
});

describe('session lifecycle: refresh and back-channel logout', () => {
  let stack;
  before(async () => {
    // Access tokens live 4 s; renewal is due 1 s before exp.
    stack = await startStack({ idpEnv: { IDP_TOKEN_TTL: '4' }, appExtra: 'leeway 1s;' });
    const uri = `${stack.app}/outpost.goauthentik.io/backchannel_logout`;
    await idpAdmin(stack, `backchannel?uri=${encodeURIComponent(uri)}`);
  }, TIMEOUT);
  after(async () => { await stack?.stop(); }, TIMEOUT);

  const refreshGrants = async () => (await idpAdmin(stack, 'token-requests'))
    .filter((r) => r.grant_type === 'refresh_token').length;

  test('after the access token has expired, fetch() gets 200 and nginx made one refresh grant', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await loginVia(b.page, `${stack.app}/lifecycle`, AKADMIN);
      const before = await refreshGrants();
      const cookieBefore = (await sessionCookies(b.context)).map((c) => c.value).join();
      await new Promise((r) => setTimeout(r, 5500));
      const res = await b.page.evaluate(async () => {
        const r = await fetch('/api/after-expiry', { redirect: 'manual' });
        return { status: r.status, body: await r.text() };
      });
      assert.equal(res.status, 200, `fetch() after expiry: ${res.status} ${res.body.slice(0, 200)}`);
      assert.match(res.body, /X-authentik-username: akadmin/);
      assert.equal(await refreshGrants() - before, 1, 'one refresh grant');
      const cookieAfter = (await sessionCookies(b.context)).map((c) => c.value).join();
      assert.notEqual(cookieAfter, cookieBefore, 'the browser stored the renewed session');
    });
  });

  test('ending the user\'s session at the IdP sends the next request to the login', TIMEOUT, async () => {
    await withBrowser(stack, async (b) => {
      await loginVia(b.page, `${stack.app}/before-logout`, AKADMIN);
      const ended = await idpAdmin(stack, 'end-session?user=akadmin');
      assert.ok(ended.backchannel.length >= 1, JSON.stringify(ended));
      for (const d of ended.backchannel) assert.equal(d.status, 200, `back-channel delivery: ${JSON.stringify(d)}`);
      const resp = await b.page.goto(`${stack.app}/after-logout`);
      assert.ok(resp, 'a response');
      assert.ok(await onLoginForm(b.page), `expected the login form, got ${b.page.url()}`);
    });
  });
});
