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
  return new Promise((resolve, reject) => {
    const r = http.request(url, { method, headers: h, agent: false }, (res) => {
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
    for (const u of ready.users) assert.ok(u.password);
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
