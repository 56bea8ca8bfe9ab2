// Self-check for the authentik-shaped test IdP: `npm test` (node --test selfcheck.mjs).
// Starts the IdP on free ports and drives it with node:http, following every redirect by hand.
// No dependencies beyond node itself; runs on Node 18 and 20 (no fetch, no Headers.getSetCookie).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SCRIPT = path.join(HERE, 'authentik-idp.mjs');
const ACR = 'goauthentik.io/providers/oauth2/default';
const INSTALL_ID = 'aa1bccac-cdb1-4547-8ea3-e8070b440f68';

// ------------------------------------------------------------------------------------------
// helpers
// ------------------------------------------------------------------------------------------

async function startIdp(extraEnv = {}) {
  const env = { ...process.env, IDP_PORT: '0', ...extraEnv };
  delete env.IDP_CONFIG;
  const proc = spawn(process.execPath, [SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  const ready = await new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        proc.stdout.off('data', onData);
        try { resolve(JSON.parse(buf.slice(0, nl))); } catch (e) { reject(e); }
      }
    };
    proc.stdout.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`IdP exited early (${code}): ${stderr}`)));
    setTimeout(() => reject(new Error(`IdP not ready in 15 s: ${stderr}`)), 15000).unref();
  });
  proc.removeAllListeners('exit');
  const exited = new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  return {
    proc,
    ready,
    stderr: () => stderr,
    async stop() {
      proc.kill('SIGTERM');
      return exited;
    },
  };
}

class Jar {
  constructor() { this.cookies = new Map(); }

  // setCookies: the response's Set-Cookie header lines (node:http keeps them apart)
  store(setCookies) {
    for (const c of setCookies) {
      const [pair] = c.split(';');
      const i = pair.indexOf('=');
      const name = pair.slice(0, i).trim();
      const value = pair.slice(i + 1).trim();
      if (/max-age=0|expires=thu, 01 jan 1970/i.test(c) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() { return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '); }
}

// One HTTP request, no redirect following. Resolves to { status, headers: { get(name) }, text,
// location, bytes, ms }.
function req(url, {
  jar, method = 'GET', form, headers = {}, timeoutMs = 30000,
} = {}) {
  const h = { ...headers };
  if (jar && jar.cookies.size) h.cookie = jar.header();
  let body;
  if (form) {
    body = new URLSearchParams(form).toString();
    h['content-type'] = 'application/x-www-form-urlencoded';
  }
  if (body !== undefined) h['content-length'] = Buffer.byteLength(body);
  const t0 = Date.now();
  // family 4: the IdP listens on 127.0.0.1, and Debian resolves localhost to ::1 first.
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method, headers: h, agent: false, family: 4 }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        if (jar) jar.store(res.headers['set-cookie'] || []);
        const buf = Buffer.concat(chunks);
        const get = (name) => {
          const v = res.headers[name.toLowerCase()];
          if (v === undefined) return null;
          return Array.isArray(v) ? v.join(', ') : String(v);
        };
        resolve({
          status: res.statusCode, headers: { get }, text: buf.toString('utf8'), location: get('location'), bytes: buf.length, ms: Date.now() - t0,
        });
      });
    });
    r.on('error', reject);
    r.setTimeout(timeoutMs, () => r.destroy(new Error(`no answer in ${timeoutMs} ms: ${method} ${url}`)));
    r.end(body);
  });
}

const getJson = async (url, opts) => {
  const r = await req(url, opts);
  assert.equal(r.status, 200, `${url}: ${r.status} ${r.text.slice(0, 300)}`);
  return JSON.parse(r.text);
};

const abs = (base, loc) => new URL(loc, base).href;
const b64url = (b) => Buffer.from(b).toString('base64url');

function pkcePair() {
  const verifier = b64url(crypto.randomBytes(32));
  const challenge = b64url(crypto.createHash('sha256').update(verifier).digest());
  return { verifier, challenge };
}

function decode(jwt) {
  const [h, p, s] = jwt.split('.');
  return {
    header: JSON.parse(Buffer.from(h, 'base64url')),
    payload: JSON.parse(Buffer.from(p, 'base64url')),
    input: `${h}.${p}`,
    sig: Buffer.from(s, 'base64url'),
    rawHeader: Buffer.from(h, 'base64url').toString(),
  };
}

function hs256Valid(jwt, secret) {
  const d = decode(jwt);
  const mac = crypto.createHmac('sha256', secret).update(d.input).digest();
  return mac.length === d.sig.length && crypto.timingSafeEqual(mac, d.sig);
}

function asymValid(jwt, jwks) {
  const d = decode(jwt);
  const jwk = jwks.keys.find((k) => k.kid === d.header.kid);
  if (!jwk) return false;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  const opts = d.header.alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key;
  return crypto.verify('sha256', Buffer.from(d.input), opts, d.sig);
}

const callbackFor = (origin) => `${origin}/outpost.goauthentik.io/callback?X-authentik-auth-callback=true`;

function authorizeUrl(ready, params) {
  const u = new URL(`${ready.origin}/application/o/authorize/`);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, v);
  return u.href;
}

// Runs authorize -> (login form) -> callback. Returns the callback URL's parameters.
async function authorize(ready, jar, {
  username = 'akadmin', password, pkce = true, nonce = true, scope = 'openid profile email entitlements ak_proxy',
  redirectUri = callbackFor('http://app.localhost:8080'), extra = {},
} = {}) {
  const user = ready.users.find((u) => u.username === username);
  const state = b64url(crypto.randomBytes(12));
  const pair = pkce ? pkcePair() : null;
  const n = nonce ? b64url(crypto.randomBytes(12)) : undefined;
  let url = authorizeUrl(ready, {
    client_id: ready.client_id,
    redirect_uri: redirectUri,
    response_type: 'code',
    scope,
    state,
    nonce: n,
    code_challenge: pair?.challenge,
    code_challenge_method: pair ? 'S256' : undefined,
    ...extra,
  });
  let sawForm = false;
  const hops = [];
  for (let i = 0; i < 10; i += 1) {
    if (url.startsWith(redirectUri.split('?')[0])) {
      const cb = new URL(url);
      return {
        cb, params: cb.searchParams, state, nonce: n, verifier: pair?.verifier, redirectUri, sawForm, hops,
      };
    }
    hops.push(new URL(url).pathname);
    const r = await req(url, { jar });
    if (r.status === 200 && r.text.includes('id="login-form"')) {
      sawForm = true;
      assert.match(r.text, /id="username"/);
      assert.match(r.text, /id="password"/);
      assert.match(r.text, /id="login-submit"/);
      assert.doesNotMatch(r.text, /https?:\/\/(?!127\.0\.0\.1)[a-z]/i, 'login page must not reference external assets');
      const action = /<form id="login-form" method="post" action="([^"]+)"/.exec(r.text)[1];
      const post = await req(abs(url, action), { jar, method: 'POST', form: { username, password: password ?? user.password } });
      if (post.status !== 303) return { loginFailed: post };
      url = abs(url, post.location);
      continue;
    }
    assert.ok([302, 303].includes(r.status), `unexpected ${r.status} at ${url}: ${r.text.slice(0, 300)}`);
    url = abs(url, r.location);
  }
  throw new Error('too many redirects');
}

async function exchange(ready, flow, { auth = 'post', secret = ready.client_secret, verifier = flow.verifier } = {}) {
  const form = {
    grant_type: 'authorization_code',
    code: flow.params.get('code'),
    redirect_uri: flow.redirectUri,
  };
  if (verifier) form.code_verifier = verifier;
  const headers = {};
  if (auth === 'post') Object.assign(form, { client_id: ready.client_id, client_secret: secret });
  else headers.authorization = `Basic ${Buffer.from(`${encodeURIComponent(ready.client_id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
  const r = await req(`${ready.origin}/application/o/token/`, { method: 'POST', form, headers });
  let body;
  try { body = JSON.parse(r.text); } catch { body = r.text; }
  return { status: r.status, body };
}

const subFor = (pk) => crypto.createHash('sha256').update(`${pk}-${INSTALL_ID}`).digest('hex');
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const userOf = (ready, name) => ready.users.find((u) => u.username === name);
const OFFLINE_SCOPE = 'openid profile email entitlements ak_proxy offline_access';

// POST the token endpoint; resolves to { status, body } (body parsed when it is JSON)
async function tokenPost(ready, form, headers = {}) {
  const r = await req(`${ready.origin}/application/o/token/`, { method: 'POST', form, headers });
  let body;
  try { body = JSON.parse(r.text); } catch { body = r.text; }
  return { status: r.status, body, headers: r.headers };
}

const refresh = (ready, refreshToken, extra = {}) => tokenPost(ready, {
  grant_type: 'refresh_token', refresh_token: refreshToken, client_id: ready.client_id, client_secret: ready.client_secret, ...extra,
});

const appPasswordGrant = (ready, username, password, extra = {}) => tokenPost(ready, {
  grant_type: 'client_credentials', client_id: ready.client_id, username, password, ...extra,
});

// Log in as `username` with offline_access and exchange the code: { flow, tokens }
async function offlineLogin(ready, jar, username = 'akadmin', opts = {}) {
  const flow = await authorize(ready, jar, { username, scope: OFFLINE_SCOPE, ...opts });
  const t = await exchange(ready, flow);
  assert.equal(t.status, 200, JSON.stringify(t.body));
  assert.ok(t.body.refresh_token, 'offline_access gives a refresh_token');
  return { flow, tokens: t.body };
}

// RP-initiated logout through the end-session page (the auto-confirm form, posted by hand)
async function endSessionLogout(ready, jar) {
  const r = await req(`${ready.origin}/application/o/${ready.slug}/end-session/`, { jar });
  assert.equal(r.status, 200, r.text.slice(0, 300));
  const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(r.text)[1];
  const fields = Object.fromEntries([...r.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)].map((m) => [m[1], m[2]]));
  const done = await req(abs(ready.origin, action), { jar, method: 'POST', form: fields });
  assert.ok([302, 303].includes(done.status), `logout confirm: ${done.status} ${done.text.slice(0, 200)}`);
  return done;
}

// A loopback HTTP server standing in for the RP's back-channel logout endpoint. It records every
// request; `status` is what it answers.
async function startReceiver(status = 200) {
  const rx = { requests: [], status };
  rx.server = http.createServer((q, res) => {
    const chunks = [];
    q.on('data', (c) => chunks.push(c));
    q.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      rx.requests.push({
        method: q.method, url: q.url, headers: q.headers, body, form: Object.fromEntries(new URLSearchParams(body)),
      });
      res.writeHead(rx.status, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
      res.end(rx.status === 200 ? '' : 'no');
    });
  });
  await new Promise((r) => { rx.server.listen(0, '127.0.0.1', r); });
  rx.port = rx.server.address().port;
  rx.uri = (p = '/backchannel-logout') => `http://127.0.0.1:${rx.port}${p}`;
  rx.close = () => new Promise((r) => { rx.server.close(() => r()); rx.server.closeAllConnections(); });
  return rx;
}

// Check a logout token against OpenID Connect Back-Channel Logout 1.0 section 2.4
function assertLogoutToken(jwt, ready, { sid, sub, verify }) {
  const d = decode(jwt);
  assert.ok(verify(jwt), 'logout token signature');
  assert.equal(d.header.typ, 'logout+jwt');
  assert.equal(d.header.alg, ready.alg);
  const c = d.payload;
  assert.equal(c.iss, ready.issuer);
  assert.equal(c.aud, ready.client_id);
  const now = Math.floor(Date.now() / 1000);
  assert.ok(Math.abs(c.iat - now) < 10, 'iat is now');
  assert.equal(c.exp - c.iat, 120, 'lives 2 minutes');
  assert.match(c.jti, /^[0-9a-f]{32}$/);
  assert.deepEqual(c.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
  assert.equal(c.nonce, undefined, 'never a nonce');
  if (sid !== undefined) assert.equal(c.sid, sid);
  if (sub !== undefined) assert.equal(c.sub, sub);
  return c;
}

// ------------------------------------------------------------------------------------------
// HS256 (default, what an authentik Proxy Provider does)
// ------------------------------------------------------------------------------------------

describe('HS256 proxy provider (default)', () => {
  let idp;
  let ready;
  const jar = new Jar();
  let tokens;
  let flow;

  before(async () => {
    idp = await startIdp();
    ({ ready } = idp);
  });
  after(async () => {
    const { code, signal } = await idp.stop();
    assert.equal(code, 0, `exit code on SIGTERM (signal ${signal})`);
  });

  test('ready line', () => {
    assert.equal(ready.ready, true);
    assert.ok(ready.port > 0);
    assert.equal(ready.issuer, `http://127.0.0.1:${ready.port}/application/o/test-app/`);
    assert.equal(ready.client_id, 'authentik-proxy');
    assert.equal(ready.client_secret.length, 64);
    assert.equal(ready.alg, 'HS256');
    const names = ready.users.map((u) => u.username);
    for (const n of ['akadmin', 'alice', 'bob']) assert.ok(names.includes(n));
    for (const u of ready.users) assert.ok(u.password && u.app_password);
    assert.equal(ready.refresh_ttl, 30 * 86400);
    assert.equal(ready.refresh_rotate, true);
    assert.equal(ready.backchannel_logout_uri, null);
    assert.equal(ready.jwks_mode, 'ok');
  });

  test('discovery at authentik paths', async () => {
    const r = await req(`${ready.origin}/application/o/test-app/.well-known/openid-configuration`);
    assert.equal(r.status, 200);
    const d = JSON.parse(r.text);
    const o = ready.origin;
    assert.equal(d.issuer, ready.issuer);
    assert.equal(d.authorization_endpoint, `${o}/application/o/authorize/`);
    assert.equal(d.token_endpoint, `${o}/application/o/token/`);
    assert.equal(d.userinfo_endpoint, `${o}/application/o/userinfo/`);
    assert.equal(d.introspection_endpoint, `${o}/application/o/introspect/`);
    assert.equal(d.revocation_endpoint, `${o}/application/o/revoke/`);
    assert.equal(d.end_session_endpoint, `${o}/application/o/test-app/end-session/`);
    assert.equal(d.jwks_uri, `${o}/application/o/test-app/jwks/`);
    assert.deepEqual(d.id_token_signing_alg_values_supported, ['HS256']);
    assert.ok(d.code_challenge_methods_supported.includes('S256'));
    assert.ok(d.token_endpoint_auth_methods_supported.includes('client_secret_post'));
    assert.ok(d.token_endpoint_auth_methods_supported.includes('client_secret_basic'));
    for (const s of ['openid', 'profile', 'email', 'entitlements', 'ak_proxy']) assert.ok(d.scopes_supported.includes(s), s);
    assert.deepEqual(d.grant_types_supported, ['authorization_code', 'refresh_token', 'client_credentials']);
    assert.ok(d.scopes_supported.includes('offline_access'));
    assert.equal(d.pushed_authorization_request_endpoint, undefined);
    assert.equal(d.authorization_response_iss_parameter_supported, undefined);
    const slug = await req(`${o}/application/o/test-app/`);
    assert.equal(slug.status, 302);
    assert.equal(abs(o, slug.location), `${o}/application/o/test-app/.well-known/openid-configuration`);
  });

  test('health, trailing-slash redirect, JWKS {} in HS256 mode', async () => {
    assert.equal((await req(`${ready.origin}/-/health/live/`)).status, 204);
    const s = await req(`${ready.origin}/application/o/authorize?client_id=x`);
    assert.equal(s.status, 301);
    assert.equal(s.location, '/application/o/authorize/?client_id=x');
    const j = await req(`${ready.origin}/application/o/test-app/jwks/`);
    assert.equal(j.status, 200);
    assert.deepEqual(JSON.parse(j.text), {});
    assert.equal(j.headers.get('access-control-allow-origin'), '*');
  });

  test('code flow with PKCE S256 + nonce through the login form', async () => {
    flow = await authorize(ready, jar, { username: 'akadmin' });
    assert.equal(flow.sawForm, true);
    assert.equal(flow.params.get('state'), flow.state);
    assert.ok(flow.params.get('code'));
    assert.equal(flow.params.get('iss'), null, 'authentik sends no iss on the callback');
    assert.equal(flow.cb.searchParams.get('X-authentik-auth-callback'), 'true');
    const t = await exchange(ready, flow, { auth: 'post' });
    assert.equal(t.status, 200, JSON.stringify(t.body));
    tokens = t.body;
    assert.equal(tokens.token_type, 'Bearer');
    assert.equal(tokens.expires_in, 300);
    assert.ok(tokens.id_token);
    assert.equal(tokens.refresh_token, undefined);
    assert.deepEqual(tokens.scope.split(' ').sort(), ['ak_proxy', 'email', 'entitlements', 'openid', 'profile']);
  });

  test('access token is an authentik-style HS256 JWT', () => {
    const at = decode(tokens.access_token);
    assert.equal(at.rawHeader, '{"alg":"HS256","typ":"JWT"}');
    assert.ok(hs256Valid(tokens.access_token, ready.client_secret), 'HMAC with client secret');
    assert.ok(!hs256Valid(tokens.access_token, `${ready.client_secret}x`));
    const p = at.payload;
    const now = Math.floor(Date.now() / 1000);
    assert.equal(p.iss, ready.issuer);
    assert.equal(p.sub, subFor(4));
    assert.equal(p.sub, ready.users.find((u) => u.username === 'akadmin').sub);
    assert.equal(p.aud, ready.client_id);
    assert.equal(typeof p.aud, 'string');
    assert.equal(p.exp - p.iat, 300);
    assert.ok(Math.abs(p.iat - now) < 10);
    assert.ok(p.auth_time <= p.iat && p.auth_time > now - 60);
    assert.equal(p.acr, ACR);
    assert.deepEqual(p.amr, ['pwd']);
    assert.match(p.sid, /^[0-9a-f]{64}$/);
    assert.ok(typeof p.jti === 'string' && p.jti.length > 10);
    assert.equal(p.preferred_username, 'akadmin');
    assert.equal(p.nickname, 'akadmin');
    assert.equal(p.name, 'authentik Default Admin');
    assert.equal(p.given_name, 'authentik Default Admin');
    assert.deepEqual(p.groups, ['authentik Admins', 'users']);
    assert.equal(p.email, 'akadmin@example.test');
    assert.equal(typeof p.email_verified, 'boolean');
    assert.deepEqual(p.entitlements, ['app-admin']);
    assert.deepEqual(p.roles, ['app-admin']);
    assert.deepEqual(p.ak_proxy.user_attributes.additionalHeaders, { 'X-Foo': 'bar' });
    assert.equal(typeof p.ak_proxy.user_attributes.basic_password, 'string');
    assert.equal(p.ak_proxy.is_superuser, true);
    assert.equal(p.azp, ready.client_id);
    assert.match(p.uid, /^[0-9a-f]{40}$/);
    assert.deepEqual(p.scope.split(' ').sort(), ['ak_proxy', 'email', 'entitlements', 'openid', 'profile']);
    assert.equal(p.client_id, undefined, 'no oidc-provider client_id claim');
    assert.equal(p.nonce, undefined);
  });

  test('id_token is HS256 with the same claims plus nonce', () => {
    const it = decode(tokens.id_token);
    assert.equal(it.rawHeader, '{"alg":"HS256","typ":"JWT"}');
    assert.ok(hs256Valid(tokens.id_token, ready.client_secret));
    const p = it.payload;
    const at = decode(tokens.access_token).payload;
    assert.equal(p.nonce, flow.nonce);
    assert.match(p.sid, /^[0-9a-f]{64}$/);
    assert.ok(p.jti);
    for (const k of ['iss', 'sub', 'aud', 'acr', 'sid', 'auth_time', 'preferred_username', 'name', 'given_name',
      'nickname', 'email', 'email_verified']) assert.equal(p[k], at[k], k);
    for (const k of ['amr', 'groups', 'entitlements', 'roles', 'ak_proxy']) assert.deepEqual(p[k], at[k], k);
    assert.equal(p.exp - p.iat, 300);
    assert.equal(p.azp, undefined);
    assert.equal(p.scope, undefined);
  });

  test('userinfo, introspection and revocation of the JWT access token', async () => {
    const o = ready.origin;
    const ui = await req(`${o}/application/o/userinfo/`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(ui.status, 200, ui.text);
    const u = JSON.parse(ui.text);
    assert.equal(u.sub, subFor(4));
    assert.deepEqual(u.groups, ['authentik Admins', 'users']);
    const creds = { client_id: ready.client_id, client_secret: ready.client_secret };
    const intro = JSON.parse((await req(`${o}/application/o/introspect/`, { method: 'POST', form: { token: tokens.access_token, ...creds } })).text);
    assert.equal(intro.active, true);
    assert.equal(intro.sub, subFor(4));
    const bad = await req(`${o}/application/o/introspect/`, { method: 'POST', form: { token: tokens.access_token, client_id: ready.client_id, client_secret: 'nope' } });
    assert.equal(bad.status, 401);
    assert.equal((await req(`${o}/application/o/revoke/`, { method: 'POST', form: { token: tokens.access_token, ...creds } })).status, 200);
    const intro2 = JSON.parse((await req(`${o}/application/o/introspect/`, { method: 'POST', form: { token: tokens.access_token, ...creds } })).text);
    assert.equal(intro2.active, false);
    const ui2 = await req(`${o}/application/o/userinfo/`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(ui2.status, 401);
  });

  test('single sign-on: a second authorize needs no form', async () => {
    const f = await authorize(ready, jar, { username: 'akadmin' });
    assert.equal(f.sawForm, false);
    assert.ok(f.params.get('code'));
  });

  test('/-/test/logout-all ends IdP sessions', async () => {
    const j = new Jar();
    assert.equal((await authorize(ready, j, { username: 'alice' })).sawForm, true);
    assert.equal((await authorize(ready, j, { username: 'alice' })).sawForm, false);
    const r = JSON.parse((await req(`${ready.origin}/-/test/logout-all`)).text);
    assert.ok(r.sessions_removed >= 1);
    assert.equal((await authorize(ready, j, { username: 'alice' })).sawForm, true);
  });

  test('code reuse, wrong verifier, wrong secret are rejected', async () => {
    const reuse = await exchange(ready, flow);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');

    const f1 = await authorize(ready, jar);
    const wrongVerifier = await exchange(ready, f1, { verifier: pkcePair().verifier });
    assert.equal(wrongVerifier.status, 400);
    assert.equal(wrongVerifier.body.error, 'invalid_grant');

    const f2 = await authorize(ready, jar);
    const wrongSecret = await exchange(ready, f2, { secret: 'not-the-secret' });
    assert.equal(wrongSecret.status, 401);
    assert.equal(wrongSecret.body.error, 'invalid_client');
  });

  test('client_secret_basic; alice and bob claims', async () => {
    const aj = new Jar();
    const fa = await authorize(ready, aj, { username: 'alice', redirectUri: callbackFor('https://app.test') });
    const ta = await exchange(ready, fa, { auth: 'basic' });
    assert.equal(ta.status, 200, JSON.stringify(ta.body));
    const pa = decode(ta.body.access_token).payload;
    assert.equal(pa.preferred_username, 'alice');
    assert.deepEqual(pa.groups, ['users']);
    assert.equal(pa.ak_proxy.is_superuser, false);

    const bj = new Jar();
    const fb = await authorize(ready, bj, { username: 'bob', pkce: false, nonce: false, redirectUri: callbackFor('http://127.0.0.1:18080') });
    const tb = await exchange(ready, fb);
    assert.equal(tb.status, 200, JSON.stringify(tb.body));
    const pb = decode(tb.body.access_token).payload;
    assert.equal(pb.preferred_username, 'bob');
    assert.deepEqual(pb.groups, []);
    assert.equal(decode(tb.body.id_token).payload.nonce, undefined);
  });

  test('redirect URI patterns', async () => {
    for (const origin of ['http://localhost:1234', 'https://a.b.localhost', 'http://127.0.0.2:9', 'http://[::1]:8443', 'https://app.test:8443/sub']) {
      const f = await authorize(ready, new Jar(), { username: 'alice', redirectUri: callbackFor(origin) });
      assert.ok(f.params.get('code'), origin);
    }
    const root = await authorize(ready, new Jar(), { username: 'alice', redirectUri: 'http://app.localhost:8080/?X-authentik-auth-callback=true' });
    assert.ok(root.params.get('code'));
    for (const bad of [callbackFor('https://evil.example'), callbackFor('http://app.test.evil.example'),
      'http://app.localhost/outpost.goauthentik.io/callback', 'http://app.localhost/other?X-authentik-auth-callback=truex']) {
      const r = await req(authorizeUrl(ready, {
        client_id: ready.client_id, redirect_uri: bad, response_type: 'code', scope: 'openid', state: 's',
      }));
      assert.equal(r.status, 400, bad);
      assert.equal(r.location, null);
      assert.match(r.text, /id="error"/);
    }
  });

  test('wrong password shows the form again with an error; abort -> access_denied', async () => {
    const j = new Jar();
    const f = await authorize(ready, j, { username: 'alice', password: 'wrong' });
    assert.equal(f.loginFailed.status, 401);
    assert.match(f.loginFailed.text, /id="login-error"/);
    assert.match(f.loginFailed.text, /id="login-form"/);
    const redirectUri = callbackFor('http://app.localhost:8080');
    const r = await req(authorizeUrl(ready, {
      client_id: ready.client_id, redirect_uri: redirectUri, response_type: 'code', scope: 'openid', state: 'st',
    }), { jar: j });
    const interactionUrl = abs(ready.origin, r.location);
    await req(interactionUrl, { jar: j });
    const ab = await req(`${interactionUrl}/abort`, { jar: j });
    const resume = await req(abs(ready.origin, ab.location), { jar: j });
    const cb = new URL(resume.location);
    assert.equal(cb.searchParams.get('error'), 'access_denied');
    assert.equal(cb.searchParams.get('state'), 'st');
  });

  test('scope omitted -> all scopes, unknown scopes dropped', async () => {
    const f = await authorize(ready, new Jar(), { username: 'alice', scope: undefined });
    const t = await exchange(ready, f);
    assert.equal(t.status, 200, JSON.stringify(t.body));
    assert.deepEqual(t.body.scope.split(' ').sort(), ['ak_proxy', 'email', 'entitlements', 'openid', 'profile']);
    const g = await authorize(ready, new Jar(), { username: 'alice', scope: 'openid email goauthentik.io/api' });
    const t2 = await exchange(ready, g);
    assert.equal(t2.status, 200, JSON.stringify(t2.body));
    const p = decode(t2.body.access_token).payload;
    assert.equal(p.scope, 'openid email');
    assert.equal(p.email, 'alice@example.test');
    assert.equal(p.groups, undefined);
  });

  test('token failure switch (admin endpoint) and token mutation modes', async () => {
    const o = ready.origin;
    let r = await req(`${o}/-/test/fail-token?on=1`);
    assert.deepEqual(JSON.parse(r.text), { mode: 'invalid_grant', once: false });
    const f = await authorize(ready, jar);
    const t = await exchange(ready, f);
    assert.equal(t.status, 400);
    assert.deepEqual(Object.keys(t.body).sort(), ['error', 'error_description']);
    assert.equal(t.body.error, 'invalid_grant');
    r = await req(`${o}/-/test/fail-token?on=0`);
    assert.equal(JSON.parse(r.text).mode, 'ok');
    const t2 = await exchange(ready, f); // the code was not consumed by the forced failure
    assert.equal(t2.status, 200);

    const check = async (mode, fn) => {
      await req(`${o}/-/test/token-mode?mode=${mode}&once=1`);
      const fl = await authorize(ready, jar);
      const res = await exchange(ready, fl);
      fn(res, fl);
      assert.equal(JSON.parse((await req(`${o}/-/test/token-mode`)).text).mode, 'ok', 'once=1 resets');
    };
    await check('bad_signature', ({ body }) => {
      assert.ok(!hs256Valid(body.access_token, ready.client_secret));
      assert.ok(!hs256Valid(body.id_token, ready.client_secret));
    });
    await check('expired', ({ body }) => {
      assert.ok(hs256Valid(body.access_token, ready.client_secret));
      assert.ok(decode(body.access_token).payload.exp < Date.now() / 1000);
    });
    await check('wrong_issuer', ({ body }) => assert.notEqual(decode(body.access_token).payload.iss, ready.issuer));
    await check('wrong_audience', ({ body }) => assert.notEqual(decode(body.access_token).payload.aud, ready.client_id));
    await check('alg_none', ({ body }) => assert.equal(decode(body.access_token).header.alg, 'none'));
    await check('opaque_access_token', ({ body }) => assert.equal(body.access_token.split('.').length, 1));
    await check('nonce_mismatch', ({ body }, fl) => assert.notEqual(decode(body.id_token).payload.nonce, fl.nonce));
    await check('server_error', ({ status }) => assert.equal(status, 500));
    await check('garbage', ({ status, body }) => { assert.equal(status, 200); assert.equal(typeof body, 'string'); });
    await check('no_id_token', ({ body }) => { assert.ok(body.access_token); assert.equal(body.id_token, undefined); });
    await check('wrong_key', ({ body }) => {
      assert.ok(!hs256Valid(body.access_token, ready.client_secret));
      assert.equal(decode(body.access_token).payload.iss, ready.issuer);
    });
    await check('not_yet_valid', ({ body }) => {
      assert.ok(hs256Valid(body.access_token, ready.client_secret));
      assert.ok(decode(body.access_token).payload.nbf > Date.now() / 1000 + 600);
    });
    const unknown = await req(`${o}/-/test/token-mode?mode=nope`);
    assert.equal(unknown.status, 400);

    const log = JSON.parse((await req(`${o}/-/test/token-requests`)).text);
    assert.ok(log.length >= 10);
    const last = log.at(-2);
    assert.equal(last.client_auth, 'client_secret_post');
    assert.equal(last.code_verifier, true);
  });

  test('end-session (RP-initiated logout) with post_logout_redirect_uri', async () => {
    const o = ready.origin;
    const target = 'http://app.localhost:8080/logged-out';
    const r = await req(`${o}/application/o/test-app/end-session/?post_logout_redirect_uri=${encodeURIComponent(target)}&state=bye`, { jar });
    assert.equal(r.status, 200);
    assert.match(r.text, /<form id="op\.logoutForm"/);
    assert.match(r.text, /\.submit\(\)/, 'auto-submits in a browser');
    assert.doesNotMatch(r.text, /https?:\/\/(?!127\.0\.0\.1)[a-z]/i, 'no external assets');
    const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(r.text)[1];
    const fields = Object.fromEntries([...r.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)].map((m) => [m[1], m[2]]));
    assert.equal(fields.logout, 'yes');
    const done = await req(abs(o, action), { jar, method: 'POST', form: fields });
    assert.ok([302, 303].includes(done.status));
    assert.equal(done.location, `${target}?state=bye`);
    // the IdP session is gone: the login form is required again
    const f = await authorize(ready, jar, { username: 'akadmin' });
    assert.equal(f.sawForm, true);
    // a post_logout_redirect_uri outside the patterns is refused
    const bad = await req(`${o}/application/o/test-app/end-session/?post_logout_redirect_uri=${encodeURIComponent('https://evil.example/')}`, { jar });
    assert.equal(bad.status, 400);
    // no redirect URI: a success page
    const j2 = new Jar();
    await authorize(ready, j2, { username: 'bob' });
    const r2 = await req(`${o}/application/o/test-app/end-session/`, { jar: j2 });
    const action2 = /action="([^"]+)"/.exec(r2.text)[1];
    const fields2 = Object.fromEntries([...r2.text.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)].map((m) => [m[1], m[2]]));
    const d2 = await req(abs(o, action2), { jar: j2, method: 'POST', form: fields2 });
    const s2 = await req(abs(o, d2.location), { jar: j2 });
    assert.match(s2.text, /id="logout-success"/);
  });
});

// ------------------------------------------------------------------------------------------
// options: PKCE required, big claims, IDP_FAIL_TOKEN, public origin
// ------------------------------------------------------------------------------------------

describe('options', () => {
  let idp;
  let ready;
  before(async () => {
    idp = await startIdp({
      IDP_PKCE_REQUIRED: '1',
      IDP_BIG_CLAIMS: '6000',
      IDP_FAIL_TOKEN: '1',
      IDP_PUBLIC_ORIGIN: 'http://localhost:{port}',
      IDP_CLIENT_ID: 'my-client',
      IDP_CLIENT_SECRET: 'S'.repeat(128),
      IDP_TOKEN_TTL: '120',
      IDP_SLUG: 'other-app',
    });
    ({ ready } = idp);
  });
  after(async () => { assert.equal((await idp.stop()).code, 0); });

  test('public origin, slug, client id', () => {
    assert.equal(ready.issuer, `http://localhost:${ready.port}/application/o/other-app/`);
    assert.equal(ready.client_id, 'my-client');
  });

  test('PKCE required: authorize without code_challenge is refused', async () => {
    const f = await authorize(ready, new Jar(), { pkce: false });
    assert.equal(f.params.get('error'), 'invalid_request');
    assert.equal(f.params.get('code'), null);
  });

  test('IDP_FAIL_TOKEN=1, then big claims', async () => {
    const jar = new Jar();
    const f = await authorize(ready, jar);
    const t = await exchange(ready, f);
    assert.equal(t.status, 400);
    assert.equal(t.body.error, 'invalid_grant');
    await req(`${ready.origin}/-/test/fail-token?on=0`);
    const t2 = await exchange(ready, f);
    assert.equal(t2.status, 200, JSON.stringify(t2.body));
    assert.ok(t2.body.access_token.length > 6000, `access token is ${t2.body.access_token.length} bytes`);
    assert.ok(hs256Valid(t2.body.access_token, 'S'.repeat(128)));
    const p = decode(t2.body.access_token).payload;
    assert.equal(p.iss, ready.issuer);
    assert.equal(p.aud, 'my-client');
    assert.equal(p.exp - p.iat, 120);
  });
});

// ------------------------------------------------------------------------------------------
// RS256 / ES256 with a published JWKS and IDP_JWKS_OUT
// ------------------------------------------------------------------------------------------

for (const alg of ['RS256', 'ES256']) {
  describe(`${alg} mode`, () => {
    let idp;
    let ready;
    let dir;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-selfcheck-'));
      idp = await startIdp({
        IDP_SIGNING_ALG: alg,
        IDP_JWKS_OUT: path.join(dir, 'jwks.json'),
        IDP_READY_FILE: path.join(dir, 'ready.json'),
        IDP_AUTO_LOGIN: 'alice',
      });
      ({ ready } = idp);
    });
    after(async () => {
      assert.equal((await idp.stop()).code, 0);
      fs.rmSync(dir, { recursive: true, force: true });
    });

    test('JWKS endpoint, IDP_JWKS_OUT and IDP_READY_FILE', async () => {
      const r = await req(ready.jwks_uri);
      const jwks = JSON.parse(r.text);
      assert.equal(jwks.keys.length, 1);
      const [k] = jwks.keys;
      assert.equal(k.kid, ready.kid);
      assert.equal(k.alg, alg);
      assert.equal(k.use, 'sig');
      assert.equal(k.kty, alg === 'RS256' ? 'RSA' : 'EC');
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined, priv);
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'jwks.json'), 'utf8')), jwks);
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'ready.json'), 'utf8')), ready);
      const d = JSON.parse((await req(ready.discovery)).text);
      assert.deepEqual(d.id_token_signing_alg_values_supported, [alg]);
    });

    test('tokens are signed with the published key', async () => {
      const jwks = JSON.parse((await req(ready.jwks_uri)).text);
      const f = await authorize(ready, new Jar(), { username: 'alice' });
      assert.equal(f.sawForm, false, 'IDP_AUTO_LOGIN skips the form');
      const t = await exchange(ready, f);
      assert.equal(t.status, 200, JSON.stringify(t.body));
      for (const tok of [t.body.access_token, t.body.id_token]) {
        const d = decode(tok);
        assert.deepEqual(d.header, { alg, typ: 'JWT', kid: ready.kid });
        assert.ok(asymValid(tok, jwks));
        assert.equal(d.payload.iss, ready.issuer);
        assert.equal(d.payload.aud, ready.client_id);
        assert.equal(d.payload.preferred_username, 'alice');
      }
      assert.equal(decode(t.body.access_token).payload.azp, ready.client_id);
    });
  });
}

// ------------------------------------------------------------------------------------------
// refresh tokens (offline_access), rotation, and their end with the IdP session
// ------------------------------------------------------------------------------------------

describe('refresh tokens', () => {
  let idp;
  let ready;
  before(async () => {
    idp = await startIdp({ IDP_TOKEN_TTL: '60' });
    ({ ready } = idp);
  });
  after(async () => { assert.equal((await idp.stop()).code, 0); });

  const hs = (t) => hs256Valid(t, ready.client_secret);
  const tokenLog = async (clear = false) => getJson(`${ready.origin}/-/test/token-requests${clear ? '?clear=1' : ''}`);

  test('offline_access without prompt gives a refresh_token; single sign-on needs no interaction', async () => {
    const jar = new Jar();
    const { flow, tokens } = await offlineLogin(ready, jar);
    assert.equal(flow.sawForm, true);
    assert.match(tokens.refresh_token, /^[\w-]{43}$/);
    assert.deepEqual(tokens.scope.split(' ').sort(), [...OFFLINE_SCOPE.split(' ')].sort());
    const at = decode(tokens.access_token).payload;
    assert.ok(at.scope.split(' ').includes('offline_access'), 'the access token scope claim lists offline_access');
    assert.equal(at.exp - at.iat, 60, 'IDP_TOKEN_TTL');
    const again = await authorize(ready, jar, { scope: OFFLINE_SCOPE });
    assert.equal(again.sawForm, false);
    assert.deepEqual(again.hops.filter((h) => h.startsWith('/interaction/')), [], `no consent interaction: ${again.hops}`);
    const t2 = await exchange(ready, again);
    assert.equal(t2.status, 200);
    assert.ok(t2.body.refresh_token);
    // without offline_access: no refresh token
    const plain = await exchange(ready, await authorize(ready, jar));
    assert.equal(plain.status, 200);
    assert.equal(plain.body.refresh_token, undefined);
  });

  test('grant_type=refresh_token: new authentik-shaped tokens, same sid, rotated refresh token, logged once', async () => {
    const jar = new Jar();
    const { flow, tokens } = await offlineLogin(ready, jar, 'alice');
    const old = { at: decode(tokens.access_token).payload, it: decode(tokens.id_token).payload };
    await tokenLog(true);
    await sleep(1100); // a later iat
    const r = await refresh(ready, tokens.refresh_token);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    const b = r.body;
    assert.deepEqual(Object.keys(b).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
    assert.equal(b.token_type, 'Bearer');
    assert.equal(b.expires_in, 60);
    assert.notEqual(b.refresh_token, tokens.refresh_token, 'rotated');
    assert.deepEqual(b.scope.split(' ').sort(), tokens.scope.split(' ').sort());
    for (const t of [b.access_token, b.id_token]) {
      const d = decode(t);
      assert.equal(d.rawHeader, '{"alg":"HS256","typ":"JWT"}');
      assert.ok(hs(t), 'HS256 with the client secret');
    }
    const at = decode(b.access_token).payload;
    const it = decode(b.id_token).payload;
    for (const k of ['iss', 'sub', 'aud', 'sid', 'auth_time', 'acr', 'preferred_username', 'groups', 'email']) {
      assert.deepEqual(at[k], old.at[k], `access token ${k}`);
    }
    assert.deepEqual(Object.keys(at), Object.keys(old.at), 'same claims in the same order');
    assert.ok(at.iat > old.at.iat, 'a new iat');
    assert.equal(at.exp - at.iat, 60, 'refreshed access token honours IDP_TOKEN_TTL');
    assert.notEqual(at.jti, old.at.jti);
    assert.equal(it.sid, old.it.sid);
    assert.equal(it.sid, at.sid);
    assert.equal(it.sub, at.sub);
    assert.equal(it.exp - it.iat, 60);
    assert.equal(old.it.nonce, flow.nonce);
    assert.equal(it.nonce, undefined, 'a refreshed id_token has no nonce');
    const ui = await req(`${ready.origin}/application/o/userinfo/`, { headers: { authorization: `Bearer ${b.access_token}` } });
    assert.equal(ui.status, 200);
    assert.equal(JSON.parse(ui.text).preferred_username, 'alice');

    const grants = (await tokenLog()).filter((e) => e.grant_type === 'refresh_token');
    assert.equal(grants.length, 1);
    assert.equal(grants[0].outcome, 'success');
    assert.equal(grants[0].refresh_token_rotated, true);
    assert.equal(grants[0].refresh_token_issued, true);
    assert.equal(grants[0].username, 'alice');
    assert.equal(grants[0].client_auth, 'client_secret_post');
    assert.doesNotMatch(JSON.stringify(await tokenLog()), new RegExp(tokens.refresh_token), 'tokens are never logged');
  });

  test('the rotated-out refresh token is invalid_grant; the new one keeps working', async () => {
    const { tokens } = await offlineLogin(ready, new Jar(), 'bob');
    const r1 = await refresh(ready, tokens.refresh_token);
    assert.equal(r1.status, 200);
    const reuse = await refresh(ready, tokens.refresh_token);
    assert.equal(reuse.status, 400);
    assert.equal(reuse.body.error, 'invalid_grant');
    const r2 = await refresh(ready, r1.body.refresh_token);
    assert.equal(r2.status, 200, 'reusing an old token does not revoke the new one (authentik)');
    const r3 = await refresh(ready, r2.body.refresh_token, { scope: 'openid offline_access' });
    assert.equal(r3.status, 200);
    assert.deepEqual(r3.body.scope.split(' ').sort(), tokens.scope.split(' ').sort(), 'the refresh token\'s scope, as authentik');
    const log = (await tokenLog()).filter((e) => e.grant_type === 'refresh_token').slice(-4);
    assert.deepEqual(log.map((e) => e.outcome), ['success', 'error:invalid_grant', 'success', 'success']);
  });

  test('refresh errors: scope, client secret, garbage token', async () => {
    const { tokens } = await offlineLogin(ready, new Jar(), 'carol');
    const rt = tokens.refresh_token;
    for (const scope of ['openid profile', 'openid offline_access goauthentik.io/api']) {
      const r = await refresh(ready, rt, { scope });
      assert.equal(r.status, 400, scope);
      assert.equal(r.body.error, 'invalid_scope', scope);
    }
    const secret = await refresh(ready, rt, { client_secret: 'wrong' });
    assert.equal(secret.status, 401);
    assert.equal(secret.body.error, 'invalid_client');
    const bogus = await refresh(ready, 'not-a-refresh-token');
    assert.equal(bogus.status, 400);
    assert.equal(bogus.body.error, 'invalid_grant');
    const ok = await refresh(ready, rt, { scope: OFFLINE_SCOPE });
    assert.equal(ok.status, 200, 'none of the failures consumed the token');
    // revocation (RFC 7009) of a refresh token
    const rv = await req(`${ready.origin}/application/o/revoke/`, {
      method: 'POST', form: { token: ok.body.refresh_token, client_id: ready.client_id, client_secret: ready.client_secret },
    });
    assert.equal(rv.status, 200);
    const revoked = await refresh(ready, ok.body.refresh_token);
    assert.equal(revoked.status, 400);
    assert.equal(revoked.body.error, 'invalid_grant');
  });

  test('token modes apply to refresh grants (grant_type filter, once)', async () => {
    const o = ready.origin;
    const { tokens } = await offlineLogin(ready, new Jar(), 'alice');
    let mode = await getJson(`${o}/-/test/token-mode?mode=server_error&grant_type=refresh_token&once=1`);
    assert.deepEqual(mode, { mode: 'server_error', once: true, grant_type: 'refresh_token' });
    // a code exchange is not a refresh grant: untouched, and does not use up once=1
    const other = await offlineLogin(ready, new Jar(), 'bob');
    assert.ok(other.tokens.access_token);
    const failed = await refresh(ready, tokens.refresh_token);
    assert.equal(failed.status, 500);
    assert.equal(failed.body.error, 'server_error');
    mode = await getJson(`${o}/-/test/token-mode`);
    assert.equal(mode.mode, 'ok', 'once=1 reset it');
    const forced = (await tokenLog()).at(-1);
    assert.equal(forced.grant_type, 'refresh_token');
    assert.equal(forced.outcome, 'forced:server_error');
    assert.equal(forced.mode, 'server_error');

    await req(`${o}/-/test/token-mode?mode=invalid_grant&once=1`);
    const ig = await refresh(ready, tokens.refresh_token);
    assert.equal(ig.status, 400);
    assert.equal(ig.body.error, 'invalid_grant');

    await req(`${o}/-/test/token-mode?mode=expired&once=1`);
    const ex = await refresh(ready, tokens.refresh_token);
    assert.equal(ex.status, 200, 'forced failures did not consume the refresh token');
    assert.ok(decode(ex.body.access_token).payload.exp < Date.now() / 1000);
    assert.ok(hs(ex.body.access_token));
    const unknown = await req(`${o}/-/test/token-mode?mode=ok&grant_type=password`);
    assert.equal(unknown.status, 400);
  });

  test('IdP session end makes refresh tokens invalid_grant: end-session?user=, logout-all, RP-initiated logout', async () => {
    const o = ready.origin;
    const alice = await offlineLogin(ready, new Jar(), 'alice');
    const bob = await offlineLogin(ready, new Jar(), 'bob');
    const ended = await getJson(`${o}/-/test/end-session?user=alice`);
    assert.equal(ended.user, 'alice');
    assert.ok(ended.sessions_removed >= 1);
    const ra = await refresh(ready, alice.tokens.refresh_token);
    assert.equal(ra.status, 400);
    assert.equal(ra.body.error, 'invalid_grant');
    const rb = await refresh(ready, bob.tokens.refresh_token);
    assert.equal(rb.status, 200, 'only alice\'s sessions ended');
    assert.equal((await req(`${o}/-/test/end-session?user=nobody`)).status, 404);

    await getJson(`${o}/-/test/logout-all`);
    const rb2 = await refresh(ready, rb.body.refresh_token);
    assert.equal(rb2.status, 400);
    assert.equal(rb2.body.error, 'invalid_grant');

    const jar = new Jar();
    const carol = await offlineLogin(ready, jar, 'carol');
    assert.equal((await refresh(ready, carol.tokens.refresh_token)).status, 200);
    const carol2 = await exchange(ready, await authorize(ready, jar, { username: 'carol', scope: OFFLINE_SCOPE }));
    await endSessionLogout(ready, jar);
    const rc = await refresh(ready, carol2.body.refresh_token);
    assert.equal(rc.status, 400);
    assert.equal(rc.body.error, 'invalid_grant');
    const sessions = await getJson(`${o}/-/test/sessions`);
    assert.deepEqual(sessions.filter((x) => x.username === 'carol'), []);
  });
});

describe('refresh tokens: IDP_REFRESH_ROTATE=0, IDP_REFRESH_TTL', () => {
  let idp;
  let ready;
  before(async () => {
    idp = await startIdp({ IDP_REFRESH_ROTATE: '0', IDP_REFRESH_TTL: '3', IDP_AUTO_LOGIN: 'akadmin' });
    ({ ready } = idp);
  });
  after(async () => { assert.equal((await idp.stop()).code, 0); });

  test('no rotation: the same refresh token works again and the response has none; it expires after IDP_REFRESH_TTL', async () => {
    assert.equal(ready.refresh_rotate, false);
    assert.equal(ready.refresh_ttl, 3);
    const { tokens } = await offlineLogin(ready, new Jar());
    for (let i = 0; i < 2; i += 1) {
      const r = await refresh(ready, tokens.refresh_token);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.refresh_token, undefined, 'authentik sends no refresh_token when it keeps the old one');
      assert.ok(r.body.access_token && r.body.id_token);
    }
    const log = (await getJson(`${ready.origin}/-/test/token-requests`)).filter((e) => e.grant_type === 'refresh_token');
    assert.deepEqual(log.map((e) => [e.outcome, e.refresh_token_rotated, e.refresh_token_issued]), [['success', false, false], ['success', false, false]]);
    // the runtime switch turns rotation back on
    assert.deepEqual(await getJson(`${ready.origin}/-/test/refresh-rotate?on=1`), { rotate: true });
    const rotated = await refresh(ready, tokens.refresh_token);
    assert.equal(rotated.status, 200);
    assert.ok(rotated.body.refresh_token);
    await sleep(3300);
    const late = await refresh(ready, rotated.body.refresh_token);
    assert.equal(late.status, 400);
    assert.equal(late.body.error, 'invalid_grant');
  });
});

// ------------------------------------------------------------------------------------------
// back-channel logout to a local receiver
// ------------------------------------------------------------------------------------------

describe('back-channel logout (HS256)', () => {
  let idp;
  let ready;
  let rx;
  before(async () => {
    rx = await startReceiver();
    idp = await startIdp({ IDP_BACKCHANNEL_LOGOUT_URI: rx.uri() });
    ({ ready } = idp);
  });
  after(async () => {
    assert.equal((await idp.stop()).code, 0);
    await rx.close();
  });

  const verify = (t) => hs256Valid(t, ready.client_secret);
  const bcLog = async (clear = false) => getJson(`${ready.origin}/-/test/backchannel-log${clear ? '?clear=1' : ''}`);

  test('RP-initiated logout POSTs a logout token for the session to the configured URI', async () => {
    assert.equal(ready.backchannel_logout_uri, rx.uri());
    const jar = new Jar();
    const { tokens } = await offlineLogin(ready, jar, 'akadmin');
    const sid = decode(tokens.id_token).payload.sid;
    assert.equal(decode(tokens.access_token).payload.sid, sid);
    rx.requests.length = 0;
    await endSessionLogout(ready, jar);
    assert.equal(rx.requests.length, 1, 'delivered before the logout redirect');
    const [got] = rx.requests;
    assert.equal(got.method, 'POST');
    assert.equal(got.url, '/backchannel-logout');
    assert.equal(got.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.deepEqual(Object.keys(got.form), ['logout_token']);
    const claims = assertLogoutToken(got.form.logout_token, ready, { sid, sub: userOf(ready, 'akadmin').sub, verify });
    assert.deepEqual(Object.keys(claims), ['iss', 'sub', 'aud', 'iat', 'exp', 'jti', 'events', 'sid']);
    assert.equal(decode(got.form.logout_token).rawHeader, '{"alg":"HS256","typ":"logout+jwt"}');
    const [entry] = await bcLog(true);
    assert.equal(entry.uri, rx.uri());
    assert.equal(entry.status, 200);
    assert.equal(entry.sid, sid);
    assert.equal(entry.sub, claims.sub);
    assert.equal(entry.username, 'akadmin');
    assert.equal(entry.jti, claims.jti);
    assert.equal(entry.reason, 'end-session');
    assert.ok(Date.parse(entry.at) > Date.now() - 60000);
    // the refresh token of that session is gone too
    assert.equal((await refresh(ready, tokens.refresh_token)).body.error, 'invalid_grant');
  });

  test('logout-all and end-session?user= notify each ended session the client got tokens in', async () => {
    const o = ready.origin;
    await getJson(`${o}/-/test/logout-all`);
    await bcLog(true);
    const a = await offlineLogin(ready, new Jar(), 'alice');
    const b = await exchange(ready, await authorize(ready, new Jar(), { username: 'bob' })); // no offline_access
    assert.equal(b.status, 200);
    const carol = await authorize(ready, new Jar(), { username: 'carol' }); // a session, but no token
    assert.ok(carol.params.get('code'));
    const sidA = decode(a.tokens.id_token).payload.sid;
    const sidB = decode(b.body.id_token).payload.sid;
    assert.notEqual(sidA, sidB);

    rx.requests.length = 0;
    const one = await getJson(`${o}/-/test/end-session?user=alice`);
    assert.equal(one.sessions_removed, 1);
    assert.equal(one.backchannel.length, 1);
    assert.equal(one.backchannel[0].sid, sidA);
    assert.equal(one.backchannel[0].status, 200);
    assert.equal(rx.requests.length, 1);
    assertLogoutToken(rx.requests[0].form.logout_token, ready, { sid: sidA, sub: userOf(ready, 'alice').sub, verify });

    const all = await getJson(`${o}/-/test/logout-all`);
    assert.equal(all.sessions_removed, 2, 'bob and carol');
    assert.deepEqual(all.backchannel.map((e) => e.sid), [sidB], 'carol got no token, so no logout token');
    assert.equal(rx.requests.length, 2);
    const claims = assertLogoutToken(rx.requests[1].form.logout_token, ready, { sid: sidB, sub: userOf(ready, 'bob').sub, verify });
    assert.equal(all.backchannel[0].reason, 'logout-all');
    assert.equal(all.backchannel[0].jti, claims.jti);
    const log = await bcLog();
    assert.deepEqual(log.map((e) => e.reason), ['end-session-user', 'logout-all']);
    assert.equal(new Set(log.map((e) => e.jti)).size, 2, 'unique jti');
    const none = await getJson(`${o}/-/test/logout-all`);
    assert.deepEqual(none, { sessions_removed: 0, backchannel: [] });
  });

  test('/-/test/backchannel switches the URI at runtime and refuses non-loopback URIs', async () => {
    const o = ready.origin;
    const rx2 = await startReceiver(500);
    try {
      assert.deepEqual(await getJson(`${o}/-/test/backchannel?uri=${encodeURIComponent(rx2.uri('/bc?x=1'))}`), { uri: rx2.uri('/bc?x=1') });
      await offlineLogin(ready, new Jar(), 'bob');
      rx.requests.length = 0;
      const r = await getJson(`${o}/-/test/end-session?user=bob`);
      assert.equal(rx.requests.length, 0);
      assert.equal(rx2.requests.length, 1);
      assert.equal(rx2.requests[0].url, '/bc?x=1');
      assert.equal(r.backchannel[0].status, 500, 'the status the receiver answered');
      for (const bad of ['http://example.com/bc', 'http://10.0.0.1/bc', 'https://192.168.1.1/', 'ftp://127.0.0.1/', 'http://user:pw@127.0.0.1/', 'not a uri', 'http://localhost.example.com/']) {
        const x = await req(`${o}/-/test/backchannel?uri=${encodeURIComponent(bad)}`);
        assert.equal(x.status, 400, bad);
        assert.match(JSON.parse(x.text).error, /loopback/);
      }
      assert.deepEqual(await getJson(`${o}/-/test/backchannel`), { uri: rx2.uri('/bc?x=1') }, 'unchanged by refused URIs');
      // a name on *.test or *.localhost connects to 127.0.0.1 with the name in Host
      await getJson(`${o}/-/test/backchannel?uri=${encodeURIComponent(`http://app.test:${rx.port}/named`)}`);
      await offlineLogin(ready, new Jar(), 'bob');
      await getJson(`${o}/-/test/end-session?user=bob`);
      assert.equal(rx.requests.at(-1).url, '/named');
      assert.equal(rx.requests.at(-1).headers.host, `app.test:${rx.port}`);
      // a receiver that is gone: status 0 and the error
      const closedPort = rx2.port;
      await rx2.close();
      await getJson(`${o}/-/test/backchannel?uri=${encodeURIComponent(`http://127.0.0.1:${closedPort}/gone`)}`);
      await offlineLogin(ready, new Jar(), 'bob');
      const gone = await getJson(`${o}/-/test/end-session?user=bob`);
      assert.equal(gone.backchannel[0].status, 0);
      assert.match(gone.backchannel[0].error, /ECONNREFUSED/);
      // uri= (empty) turns deliveries off
      assert.deepEqual(await getJson(`${o}/-/test/backchannel?uri=`), { uri: null });
      await offlineLogin(ready, new Jar(), 'bob');
      const n = rx.requests.length;
      const off = await getJson(`${o}/-/test/end-session?user=bob`);
      assert.deepEqual(off.backchannel, []);
      assert.equal(rx.requests.length, n);
    } finally {
      await rx2.close().catch(() => {});
      await req(`${o}/-/test/backchannel?uri=${encodeURIComponent(rx.uri())}`);
    }
  });

  test('/-/test/logout-token returns a valid logout token without delivering it', async () => {
    const o = ready.origin;
    const { tokens } = await offlineLogin(ready, new Jar(), 'carol');
    const sid = decode(tokens.id_token).payload.sid;
    const n = rx.requests.length;
    const t = await getJson(`${o}/-/test/logout-token?user=carol`);
    assert.deepEqual(Object.keys(t).sort(), ['claims', 'header', 'logout_token']);
    const claims = assertLogoutToken(t.logout_token, ready, { sid, sub: userOf(ready, 'carol').sub, verify });
    assert.deepEqual(t.claims, claims);
    const t2 = await getJson(`${o}/-/test/logout-token?user=carol&sid=${'ab'.repeat(32)}`);
    assertLogoutToken(t2.logout_token, ready, { sid: 'ab'.repeat(32), verify });
    assert.notEqual(t2.claims.jti, claims.jti);
    const t3 = await getJson(`${o}/-/test/logout-token?user=carol&sid=`);
    assert.equal(t3.claims.sid, undefined, 'sid= (empty): a sub-only logout token');
    assertLogoutToken(t3.logout_token, ready, { sub: userOf(ready, 'carol').sub, verify });
    assert.equal(rx.requests.length, n, 'nothing was delivered');
    assert.equal((await refresh(ready, tokens.refresh_token)).status, 200, 'and the session is still there');
    assert.equal((await req(`${o}/-/test/logout-token?user=nobody`)).status, 404);
    assert.equal((await req(`${o}/-/test/logout-token?user=akadmin`)).status, 200, 'akadmin had a session earlier');
  });

  test('a non-loopback IDP_BACKCHANNEL_LOGOUT_URI is refused at start', async () => {
    await assert.rejects(startIdp({ IDP_BACKCHANNEL_LOGOUT_URI: 'http://example.com/bc' }), /loopback/);
  });
});

// ------------------------------------------------------------------------------------------
// authentik's app-password client_credentials grant
// ------------------------------------------------------------------------------------------

describe('client_credentials with an app password', () => {
  let idp;
  let ready;
  before(async () => {
    idp = await startIdp();
    ({ ready } = idp);
  });
  after(async () => { assert.equal((await idp.stop()).code, 0); });

  test('the ready line lists each user\'s app password', () => {
    assert.equal(userOf(ready, 'akadmin').app_password, 'akadmin-app-password');
    assert.equal(userOf(ready, 'alice').app_password, 'alice-app-password');
    for (const u of ready.users) assert.equal(u.app_password, `${u.username}-app-password`);
  });

  test('username + app password (no client secret) gets authentik-shaped tokens for that user', async () => {
    await req(`${ready.origin}/-/test/token-requests?clear=1`);
    const r = await appPasswordGrant(ready, 'alice', 'alice-app-password', { scope: 'openid profile email' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.headers.get('cache-control'), 'no-store');
    assert.deepEqual(Object.keys(r.body), ['access_token', 'token_type', 'scope', 'expires_in', 'id_token']);
    assert.equal(r.body.token_type, 'Bearer');
    assert.equal(r.body.expires_in, 300);
    assert.equal(r.body.scope, 'openid profile email');
    const at = decode(r.body.access_token);
    const it = decode(r.body.id_token);
    assert.equal(at.rawHeader, '{"alg":"HS256","typ":"JWT"}');
    assert.equal(it.rawHeader, '{"alg":"HS256","typ":"JWT"}');
    assert.ok(hs256Valid(r.body.access_token, ready.client_secret));
    assert.ok(hs256Valid(r.body.id_token, ready.client_secret));
    const p = at.payload;
    assert.equal(p.iss, ready.issuer);
    assert.equal(p.sub, subFor(5));
    assert.equal(p.aud, ready.client_id);
    assert.equal(p.exp - p.iat, 300);
    assert.equal(p.auth_time, p.iat);
    assert.equal(p.acr, ACR);
    assert.equal(p.sid, undefined, 'no IdP session, no sid');
    assert.equal(p.amr, undefined, 'authentik sets no amr for an app-password login');
    assert.equal(p.preferred_username, 'alice');
    assert.deepEqual(p.groups, ['users']);
    assert.equal(p.email, 'alice@example.test');
    assert.equal(p.entitlements, undefined, 'scope entitlements not requested');
    assert.equal(p.azp, ready.client_id);
    assert.match(p.uid, /^[0-9a-f]{40}$/);
    assert.equal(p.scope, 'openid profile email');
    assert.ok(typeof p.jti === 'string' && p.jti.length > 10);
    assert.deepEqual(Object.keys(p), ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'jti', 'name', 'given_name',
      'preferred_username', 'nickname', 'groups', 'email', 'email_verified', 'azp', 'uid', 'scope']);
    const i = it.payload;
    for (const k of ['iss', 'sub', 'aud', 'acr', 'auth_time', 'preferred_username', 'email']) assert.deepEqual(i[k], p[k], k);
    assert.equal(i.nonce, undefined);
    assert.equal(i.sid, undefined);
    const ui = await req(`${ready.origin}/application/o/userinfo/`, { headers: { authorization: `Bearer ${r.body.access_token}` } });
    assert.equal(ui.status, 200, 'userinfo accepts it');
    assert.equal(JSON.parse(ui.text).preferred_username, 'alice');
    // no scope: every scope, as an authorize without scope
    const all = await appPasswordGrant(ready, 'akadmin', 'akadmin-app-password');
    assert.equal(all.status, 200);
    const pa = decode(all.body.access_token).payload;
    assert.deepEqual(pa.scope.split(' ').sort(), ['ak_proxy', 'email', 'entitlements', 'openid', 'profile']);
    assert.deepEqual(pa.ak_proxy.user_attributes.additionalHeaders, { 'X-Foo': 'bar' });
    assert.equal(pa.ak_proxy.is_superuser, true);
    const log = await getJson(`${ready.origin}/-/test/token-requests`);
    assert.deepEqual(log.map((e) => [e.grant_type, e.username, e.outcome, e.client_auth]), [
      ['client_credentials', 'alice', 'success', 'none'], ['client_credentials', 'akadmin', 'success', 'none']]);
  });

  test('a wrong username or password is 400 invalid_grant; a wrong client_id 400 invalid_client', async () => {
    await req(`${ready.origin}/-/test/token-requests?clear=1`);
    const cases = [
      ['alice', 'wrong'],
      ['alice', 'alice-password'], // the login password is not an app password
      ['alice', 'bob-app-password'], // another user's app password
      ['nobody', 'alice-app-password'],
      ['', 'alice-app-password'],
    ];
    for (const [u, pw] of cases) {
      const r = await appPasswordGrant(ready, u, pw);
      assert.equal(r.status, 400, `${u}/${pw}`);
      assert.deepEqual(Object.keys(r.body).sort(), ['error', 'error_description']);
      assert.equal(r.body.error, 'invalid_grant', `${u}/${pw}`);
    }
    const c = await tokenPost(ready, {
      grant_type: 'client_credentials', client_id: 'other-client', username: 'alice', password: 'alice-app-password',
    });
    assert.equal(c.status, 400);
    assert.equal(c.body.error, 'invalid_client');
    const log = await getJson(`${ready.origin}/-/test/token-requests`);
    assert.deepEqual(log.map((e) => [e.username, e.outcome]), [
      ['alice', 'error:invalid_grant'], ['alice', 'error:invalid_grant'], ['alice', 'error:invalid_grant'],
      ['nobody', 'error:invalid_grant'], ['', 'error:invalid_grant'], ['alice', 'error:invalid_client']]);
    assert.doesNotMatch(JSON.stringify(log), /app-password|alice-password|"wrong"/, 'passwords are never logged');
  });

  test('token modes apply to client_credentials', async () => {
    const o = ready.origin;
    await req(`${o}/-/test/token-mode?mode=invalid_grant&once=1&grant_type=client_credentials`);
    const f = await appPasswordGrant(ready, 'alice', 'alice-app-password');
    assert.equal(f.status, 400);
    assert.equal(f.body.error, 'invalid_grant');
    const rec = (await getJson(`${o}/-/test/token-requests`)).at(-1);
    assert.deepEqual([rec.grant_type, rec.username, rec.outcome], ['client_credentials', 'alice', 'forced:invalid_grant']);
    await req(`${o}/-/test/token-mode?mode=wrong_audience&once=1`);
    const w = await appPasswordGrant(ready, 'alice', 'alice-app-password');
    assert.equal(w.status, 200);
    assert.notEqual(decode(w.body.access_token).payload.aud, ready.client_id);
    assert.ok(hs256Valid(w.body.access_token, ready.client_secret));
    await req(`${o}/-/test/token-mode?mode=server_error&once=1`);
    assert.equal((await appPasswordGrant(ready, 'alice', 'alice-app-password')).status, 500);
    const ok = await appPasswordGrant(ready, 'alice', 'alice-app-password');
    assert.equal(ok.status, 200);
    assert.equal(decode(ok.body.access_token).payload.aud, ready.client_id);
  });
});

// ------------------------------------------------------------------------------------------
// RS256 / ES256: key rotation on demand, JWKS failure modes, JWKS request counter
// ------------------------------------------------------------------------------------------

for (const alg of ['RS256', 'ES256']) {
  describe(`${alg}: key rotation and JWKS modes`, () => {
    let idp;
    let ready;
    let dir;
    let rx;
    before(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-selfcheck-'));
      rx = await startReceiver();
      idp = await startIdp({
        IDP_SIGNING_ALG: alg, IDP_JWKS_OUT: path.join(dir, 'jwks.json'), IDP_AUTO_LOGIN: 'alice', IDP_BACKCHANNEL_LOGOUT_URI: rx.uri(),
      });
      ({ ready } = idp);
    });
    after(async () => {
      assert.equal((await idp.stop()).code, 0);
      await rx.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    const jwksNow = () => getJson(ready.jwks_uri);
    const login = async () => {
      const t = await exchange(ready, await authorize(ready, new Jar(), { username: 'alice', scope: OFFLINE_SCOPE }));
      assert.equal(t.status, 200, JSON.stringify(t.body));
      return t.body;
    };
    const userinfo = (at) => req(`${ready.origin}/application/o/userinfo/`, { headers: { authorization: `Bearer ${at}` } });

    test('rotate-key signs with a new kid at once and keeps publishing the old key; drop-old-keys retires it', async () => {
      const o = ready.origin;
      const before0 = await login();
      const oldKid = ready.kid;
      assert.equal(decode(before0.access_token).header.kid, oldKid);

      const rot = await getJson(`${o}/-/test/rotate-key`);
      assert.notEqual(rot.kid, oldKid);
      assert.deepEqual(rot.kids, [rot.kid, oldKid]);
      const jwks = await jwksNow();
      assert.deepEqual(jwks.keys.map((k) => k.kid), [rot.kid, oldKid], 'the JWKS reflects it at once');
      for (const k of jwks.keys) {
        assert.equal(k.alg, alg);
        for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi']) assert.equal(k[priv], undefined, priv);
      }
      assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir, 'jwks.json'), 'utf8')), jwks, 'IDP_JWKS_OUT rewritten');

      const after1 = await login();
      for (const t of [after1.access_token, after1.id_token]) {
        assert.deepEqual(decode(t).header, { alg, typ: 'JWT', kid: rot.kid });
        assert.ok(asymValid(t, jwks));
      }
      assert.ok(asymValid(before0.access_token, jwks), 'tokens of the old key still verify');
      const refreshed = await refresh(ready, before0.refresh_token);
      assert.equal(refreshed.status, 200);
      assert.equal(decode(refreshed.body.access_token).header.kid, rot.kid, 'a refresh signs with the new key');
      const cc = await appPasswordGrant(ready, 'alice', 'alice-app-password');
      assert.equal(decode(cc.body.id_token).header.kid, rot.kid);
      assert.ok(asymValid(cc.body.access_token, jwks));
      assert.equal((await userinfo(before0.access_token)).status, 200);
      assert.equal((await userinfo(after1.access_token)).status, 200);
      const lt = await getJson(`${o}/-/test/logout-token?user=alice`);
      assert.deepEqual(lt.header, { alg, typ: 'logout+jwt', kid: rot.kid });
      assertLogoutToken(lt.logout_token, ready, { verify: (t) => asymValid(t, jwks), sub: userOf(ready, 'alice').sub });

      const dropped = await getJson(`${o}/-/test/drop-old-keys`);
      assert.deepEqual(dropped, { kid: rot.kid, kids: [rot.kid], dropped: [oldKid] });
      const only = await jwksNow();
      assert.deepEqual(only.keys.map((k) => k.kid), [rot.kid]);
      assert.ok(!asymValid(before0.access_token, only), 'the old key is gone');
      assert.equal((await userinfo(before0.access_token)).status, 401);
      assert.equal((await userinfo(after1.access_token)).status, 200);

      // a second rotation; the back-channel logout token is signed with the newest key
      const rot2 = await getJson(`${o}/-/test/rotate-key`);
      assert.deepEqual(rot2.kids, [rot2.kid, rot.kid]);
      rx.requests.length = 0;
      await getJson(`${o}/-/test/end-session?user=alice`);
      assert.ok(rx.requests.length >= 1);
      const lk = rx.requests[0].form.logout_token;
      assert.equal(decode(lk).header.kid, rot2.kid);
      const jwks2 = await jwksNow();
      assertLogoutToken(lk, ready, { verify: (t) => asymValid(t, jwks2), sub: userOf(ready, 'alice').sub });
    });

    test('jwks-mode: down, slow, garbage, huge, private, symmetric, empty, once', async () => {
      const o = ready.origin;
      const set = (q) => getJson(`${o}/-/test/jwks-mode?${q}`);
      const real = await jwksNow();

      assert.deepEqual(await set('mode=down'), { mode: 'down', once: false, slow_ms: 10000 });
      let r = await req(ready.jwks_uri);
      assert.equal(r.status, 503);
      r = await req(ready.jwks_uri);
      assert.equal(r.status, 503, 'stays until changed');

      await set('mode=slow&ms=400');
      r = await req(ready.jwks_uri);
      assert.equal(r.status, 200);
      assert.ok(r.ms >= 380, `slow took ${r.ms} ms`);
      assert.deepEqual(JSON.parse(r.text), real);

      await set('mode=garbage');
      r = await req(ready.jwks_uri);
      assert.equal(r.status, 200);
      assert.throws(() => JSON.parse(r.text));

      await set('mode=huge');
      r = await req(ready.jwks_uri);
      assert.equal(r.status, 200);
      assert.equal(r.bytes, 2 * 1024 * 1024);
      assert.deepEqual(JSON.parse(r.text).keys, real.keys, 'valid JSON with the real keys, only too big');

      await set('mode=private');
      const priv = JSON.parse((await req(ready.jwks_uri)).text);
      assert.equal(priv.keys.length, real.keys.length);
      for (const k of priv.keys) assert.equal(typeof k.d, 'string', 'private members');
      assert.deepEqual(priv.keys.map((k) => k.kid), real.keys.map((k) => k.kid));

      await set('mode=symmetric');
      const sym = JSON.parse((await req(ready.jwks_uri)).text);
      assert.equal(sym.keys[0].kty, 'oct');
      assert.equal(typeof sym.keys[0].k, 'string');
      assert.equal(sym.keys[0].alg, 'HS256');
      assert.deepEqual(sym.keys.slice(1), real.keys);

      await set('mode=empty');
      assert.deepEqual(JSON.parse((await req(ready.jwks_uri)).text), { keys: [] });

      await set('mode=down&once=1');
      assert.equal((await req(ready.jwks_uri)).status, 503);
      assert.equal((await req(ready.jwks_uri)).status, 200, 'once=1: back to ok');
      assert.equal((await set('')).mode, 'ok');
      assert.equal((await req(`${o}/-/test/jwks-mode?mode=nope`)).status, 400);
      // the token endpoint does not care about the JWKS mode
      await set('mode=down');
      const t = await login();
      assert.ok(asymValid(t.access_token, real));
      await set('mode=ok&ms=10000');
    });

    test('jwks-requests counts JWKS GETs with their times and modes', async () => {
      const o = ready.origin;
      await getJson(`${o}/-/test/jwks-requests?clear=1`);
      assert.deepEqual(await getJson(`${o}/-/test/jwks-requests`), { count: 0, requests: [] });
      await req(ready.jwks_uri);
      await req(`${o}/-/test/jwks-mode?mode=down&once=1`);
      await req(ready.jwks_uri);
      await req(ready.jwks_uri.replace(/\/$/, '')); // the 301 is not a JWKS fetch
      await req(ready.discovery);
      await login(); // nor are logins
      const c = await getJson(`${o}/-/test/jwks-requests?clear=1`);
      assert.equal(c.count, 2);
      assert.deepEqual(c.requests.map((x) => x.mode), ['ok', 'down']);
      assert.ok(c.requests[0].t <= c.requests[1].t);
      assert.ok(Date.parse(c.requests[0].at) > Date.now() - 60000);
      assert.equal(c.requests[0].host, `127.0.0.1:${ready.port}`);
      assert.equal((await getJson(`${o}/-/test/jwks-requests`)).count, 0, 'clear=1 cleared');
    });
  });
}

describe('HS256: no key rotation', () => {
  let idp;
  before(async () => { idp = await startIdp(); });
  after(async () => { assert.equal((await idp.stop()).code, 0); });

  test('rotate-key and drop-old-keys are refused; the JWKS stays {} and jwks modes still apply', async () => {
    const o = idp.ready.origin;
    assert.equal((await req(`${o}/-/test/rotate-key`)).status, 400);
    assert.equal((await req(`${o}/-/test/drop-old-keys`)).status, 400);
    assert.deepEqual(await getJson(idp.ready.jwks_uri), {});
    await req(`${o}/-/test/jwks-mode?mode=down&once=1`);
    assert.equal((await req(idp.ready.jwks_uri)).status, 503);
    assert.equal((await getJson(`${o}/-/test/jwks-requests`)).count, 2);
  });
});
