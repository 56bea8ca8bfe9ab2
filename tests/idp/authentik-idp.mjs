#!/usr/bin/env node
// A real OpenID provider (panva/oidc-provider 8.8.1) shaped like an authentik *Proxy Provider*.
//
// * authentik's URL layout (issuer http://HOST:PORT/application/o/<slug>/, shared
//   /application/o/{authorize,token,userinfo,introspect,revoke}/, per-slug jwks/ and end-session/).
// * Default mode HS256: id_token AND access token are JWTs signed with the client secret, header
//   {"alg":"HS256","typ":"JWT"} (no kid), JWKS `{}`. IDP_SIGNING_ALG=RS256|ES256 signs both with a
//   generated key (with kid) and publishes it.
// * The access token carries authentik's claims (iss, sub, aud=client_id, exp, iat, auth_time,
//   acr, amr, sid, jti, the scope claims, azp, uid, scope).
//
// * Refresh tokens (scope offline_access, rotated on use), authentik's app-password
//   client_credentials grant, back-channel logout (OpenID Connect Back-Channel Logout 1.0) and, in
//   RS256/ES256 mode, signing-key rotation and JWKS failure modes on demand.
//
// See README.md for the environment variables, the test switches and the ready line. This process
// only listens on loopback (by default). Its only outbound connections are back-channel logout
// POSTs, and only to a loopback URI.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as path from 'node:path';
import * as querystring from 'node:querystring';

import Provider, { errors } from 'oidc-provider';
// oidc-provider keeps its signing keys in a private KeyStore reachable only through this module
// (8.8.1 is pinned). Key rotation on demand swaps the keys in it; see rotateKey().
import providerInstance from 'oidc-provider/lib/helpers/weak_cache.js';

const { env } = process;
const STARTED = Date.now();

// oidc-provider warns once that the token endpoint's body was already read; the front middleware
// reads it on purpose (to pick the grant) and hands it over
const consoleWarn = console.warn;
console.warn = (...args) => {
  if (typeof args[0] === 'string' && args[0].includes('already parsed request body detected')) return;
  consoleWarn(...args);
};

// ---------------------------------------------------------------------------------------------
// configuration
// ---------------------------------------------------------------------------------------------

const DEFAULT_SECRET = 'kOLy1cbwJANEtySAOtaITcGGksbIcARvrLSz0XRPMPllsHJH3yPqyGnPy4dcNFNs';
const ACR = 'goauthentik.io/providers/oauth2/default';
const SCOPES = ['openid', 'profile', 'email', 'entitlements', 'ak_proxy'];
const DEFAULT_SCOPE = SCOPES.join(' ');
// authentik only issues a refresh token when the authorize request asked for offline_access
const OFFLINE = 'offline_access';
const ALL_SCOPES = [...SCOPES, OFFLINE];
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const JWKS_MODES = new Set(['ok', 'down', 'slow', 'garbage', 'huge', 'private', 'symmetric', 'empty']);
const GRANT_TYPES = new Set(['authorization_code', 'refresh_token', 'client_credentials']);
const TOKEN_MODES = new Set([
  'ok', 'invalid_grant', 'server_error', 'garbage', 'bad_signature', 'wrong_key', 'wrong_issuer',
  'wrong_audience', 'expired', 'not_yet_valid', 'alg_none', 'opaque_access_token', 'no_id_token',
  'nonce_mismatch',
]);

const DEFAULT_USERS = [
  {
    pk: 4,
    username: 'akadmin',
    password: 'akadmin-password',
    app_password: 'akadmin-app-password', // authentik app-password token (client_credentials grant)
    name: 'authentik Default Admin',
    email: 'akadmin@example.test',
    email_verified: true,
    groups: ['authentik Admins', 'users'],
    entitlements: ['app-admin'],
    is_superuser: true,
    attributes: {
      additionalHeaders: { 'X-Foo': 'bar' },
      basic_password: 'akadmin-basic-secret',
    },
  },
  {
    pk: 5,
    username: 'alice',
    password: 'alice-password',
    app_password: 'alice-app-password', // authentik app-password token (client_credentials grant)
    name: 'Alice Liddell',
    email: 'alice@example.test',
    email_verified: true,
    groups: ['users'],
    entitlements: [],
    is_superuser: false,
    attributes: {},
  },
  {
    pk: 6,
    username: 'bob',
    password: 'bob-password',
    app_password: 'bob-app-password', // authentik app-password token (client_credentials grant)
    name: 'Bob',
    email: 'bob@example.test',
    email_verified: false,
    groups: [],
    entitlements: [],
    is_superuser: false,
    attributes: {},
  },
  {
    // edge cases for header tests: a "|" inside a group name, non-ASCII, additionalHeaders with
    // non-string values and an underscore name (authentik drops/blanks those)
    pk: 7,
    username: 'carol',
    password: 'carol-password',
    app_password: 'carol-app-password', // authentik app-password token (client_credentials grant)
    name: 'Zoë Ünïcode-Carol',
    email: '',
    email_verified: false,
    groups: ['ops|oncall', 'users'],
    entitlements: ['app-viewer', 'app-editor'],
    is_superuser: false,
    attributes: {
      additionalHeaders: { 'X-Team': 'platform', 'X-Num': 42, 'X-Bool': true, X_Under: 'dropped' },
    },
  },
];

function bool(v, dflt = false) {
  if (v === undefined || v === '') return dflt;
  return /^(1|true|yes|on)$/i.test(String(v));
}

function int(v, dflt) {
  if (v === undefined || v === '') return dflt;
  const n = Number.parseInt(v, 10);
  if (!Number.isFinite(n) || n < 0) throw new Error(`not a non-negative integer: ${v}`);
  return n;
}

function loadConfig() {
  let file = {};
  if (env.IDP_CONFIG) file = JSON.parse(fs.readFileSync(env.IDP_CONFIG, 'utf8'));
  const pick = (envName, key, dflt) => (env[envName] !== undefined && env[envName] !== ''
    ? env[envName] : (file[key] !== undefined ? file[key] : dflt));

  const cfg = {
    host: pick('IDP_HOST', 'host', '127.0.0.1'),
    port: int(pick('IDP_PORT', 'port', '9000'), 9000),
    publicOrigin: pick('IDP_PUBLIC_ORIGIN', 'public_origin', ''),
    slug: pick('IDP_SLUG', 'slug', 'test-app'),
    clientId: pick('IDP_CLIENT_ID', 'client_id', 'authentik-proxy'),
    clientSecret: pick('IDP_CLIENT_SECRET', 'client_secret', DEFAULT_SECRET),
    alg: String(pick('IDP_SIGNING_ALG', 'signing_alg', 'HS256')).toUpperCase(),
    keysFile: pick('IDP_KEYS_FILE', 'keys_file', ''),
    jwksOut: pick('IDP_JWKS_OUT', 'jwks_out', ''),
    readyFile: pick('IDP_READY_FILE', 'ready_file', ''),
    pkceRequired: bool(pick('IDP_PKCE_REQUIRED', 'pkce_required', '')),
    tokenTtl: int(pick('IDP_TOKEN_TTL', 'token_ttl', '300'), 300),
    refreshTtl: int(pick('IDP_REFRESH_TTL', 'refresh_ttl', String(30 * 86400)), 30 * 86400), // authentik: days=30
    refreshRotate: bool(pick('IDP_REFRESH_ROTATE', 'refresh_rotate', '1'), true),
    backchannelUri: pick('IDP_BACKCHANNEL_LOGOUT_URI', 'backchannel_logout_uri', ''),
    backchannelTimeoutMs: int(pick('IDP_BACKCHANNEL_TIMEOUT_MS', 'backchannel_timeout_ms', '5000'), 5000),
    logoutTokenTtl: int(pick('IDP_LOGOUT_TOKEN_TTL', 'logout_token_ttl', '120'), 120),
    jwksMode: pick('IDP_JWKS_MODE', 'jwks_mode', 'ok'),
    jwksSlowMs: int(pick('IDP_JWKS_SLOW_MS', 'jwks_slow_ms', '10000'), 10000),
    codeTtl: int(pick('IDP_CODE_TTL', 'code_ttl', '60'), 60),
    bigClaims: int(pick('IDP_BIG_CLAIMS', 'big_claims', '0'), 0),
    bigClaimsUsers: String(pick('IDP_BIG_CLAIMS_USERS', 'big_claims_users', '')).split(',').map((s) => s.trim()).filter(Boolean),
    tokenMode: pick('IDP_TOKEN_MODE', 'token_mode', bool(env.IDP_FAIL_TOKEN) ? 'invalid_grant' : 'ok'),
    autoLogin: pick('IDP_AUTO_LOGIN', 'auto_login', ''),
    logoutAutoConfirm: bool(pick('IDP_LOGOUT_AUTO_CONFIRM', 'logout_auto_confirm', '1'), true),
    installId: pick('IDP_INSTALL_ID', 'install_id', 'aa1bccac-cdb1-4547-8ea3-e8070b440f68'),
    redirectUriRegex: pick('IDP_REDIRECT_URI_REGEX', 'redirect_uri_regex', ''),
    postLogoutRedirectUriRegex: pick('IDP_POST_LOGOUT_REDIRECT_URI_REGEX', 'post_logout_redirect_uri_regex', ''),
    issParam: bool(pick('IDP_ISS_PARAM', 'iss_param', '')),
    log: bool(pick('IDP_LOG', 'log', '')),
    users: Array.isArray(file.users) ? file.users : DEFAULT_USERS,
  };

  if (!['HS256', 'RS256', 'ES256'].includes(cfg.alg)) throw new Error(`IDP_SIGNING_ALG must be HS256, RS256 or ES256, not ${cfg.alg}`);
  if (!TOKEN_MODES.has(cfg.tokenMode)) throw new Error(`IDP_TOKEN_MODE must be one of ${[...TOKEN_MODES].join(', ')}`);
  if (!JWKS_MODES.has(cfg.jwksMode)) throw new Error(`IDP_JWKS_MODE must be one of ${[...JWKS_MODES].join(', ')}`);
  if (cfg.refreshTtl < 1) throw new Error('IDP_REFRESH_TTL must be at least 1');
  if (cfg.backchannelUri) {
    const why = backchannelUriProblem(cfg.backchannelUri);
    if (why) throw new Error(`IDP_BACKCHANNEL_LOGOUT_URI: ${why}`);
  }
  if (!/^[a-z0-9][a-z0-9_-]*$/i.test(cfg.slug)) throw new Error(`bad IDP_SLUG ${cfg.slug}`);
  if (!cfg.clientSecret) throw new Error('IDP_CLIENT_SECRET must not be empty');
  return cfg;
}

const cfg = loadConfig();
const log = (...a) => { if (cfg.log) console.error('[idp]', ...a); };

// ---------------------------------------------------------------------------------------------
// small helpers
// ---------------------------------------------------------------------------------------------

const sha256hex = (s) => crypto.createHash('sha256').update(String(s)).digest('hex');
const b64u = (buf) => Buffer.from(buf).toString('base64url');
const epoch = () => Math.floor(Date.now() / 1000);
const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;',
}[c]));

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

async function readRaw(ctx, limit = 64 * 1024) {
  const chunks = [];
  let size = 0;
  for await (const c of ctx.req) {
    size += c.length;
    if (size > limit) throw new errors.InvalidRequest('request body too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function readBody(ctx, limit = 64 * 1024) {
  const raw = await readRaw(ctx, limit);
  return ctx.is('application/json') ? JSON.parse(raw || '{}') : querystring.parse(raw);
}

// Where a back-channel logout POST to this URI would connect: loopback only, never via DNS.
// 127.x.x.x and [::1] literals as they are; localhost, *.localhost and *.test go to 127.0.0.1
// (the Host header keeps the name, for name-based virtual hosts). Anything else: null.
function loopbackTarget(uri) {
  let u;
  try { u = new URL(uri); } catch { return null; }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username || u.password) return null;
  const h = u.hostname.toLowerCase();
  let address = null;
  if (/^127(?:\.\d{1,3}){3}$/.test(h) && h.split('.').every((o) => Number(o) <= 255)) address = h;
  else if (h === '[::1]') address = '::1';
  else if (/^(?:(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*localhost|(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+test)$/.test(h)) address = '127.0.0.1';
  if (!address) return null;
  return { url: u, address };
}

function backchannelUriProblem(uri) {
  if (!loopbackTarget(uri)) return `refusing ${uri}: the back-channel logout URI must be http(s) on a loopback host (127.x.x.x, [::1], localhost, *.localhost, *.test)`;
  return null;
}

// ---------------------------------------------------------------------------------------------
// users and claims (authentik's default scope mappings)
// ---------------------------------------------------------------------------------------------

const users = cfg.users.map((u, i) => {
  const user = {
    pk: u.pk ?? i + 1,
    groups: [],
    entitlements: [],
    attributes: {},
    is_superuser: false,
    email: '',
    email_verified: false,
    ...u,
  };
  user.name = user.name ?? user.username;
  user.app_password = user.app_password ?? `${user.username}-app-password`;
  user.sub = sha256hex(`${user.pk}-${cfg.installId}`); // authentik User.uid (sub_mode hashed_user_id)
  user.attributes = structuredClone(user.attributes);
  if (cfg.bigClaims > 0 && (cfg.bigClaimsUsers.length === 0 || cfg.bigClaimsUsers.includes(user.username))) {
    // base64 of the JWT payload grows by 4/3, so this many random characters make each token
    // longer than IDP_BIG_CLAIMS bytes on their own
    user.attributes.padding = crypto.randomBytes(cfg.bigClaims).toString('base64url').slice(0, Math.ceil(cfg.bigClaims * 0.76) + 16);
  }
  return user;
});
const usersBySub = new Map(users.map((u) => [u.sub, u]));
const usersByName = new Map(users.map((u) => [u.username, u]));

function scopeClaims(user, scopes) {
  const c = {};
  if (scopes.has('profile')) {
    Object.assign(c, {
      name: user.name,
      given_name: user.name,
      preferred_username: user.username,
      nickname: user.username,
      groups: [...user.groups],
    });
  }
  if (scopes.has('email')) Object.assign(c, { email: user.email, email_verified: !!user.email_verified });
  if (scopes.has('entitlements')) Object.assign(c, { entitlements: [...user.entitlements], roles: [...user.entitlements] });
  if (scopes.has('ak_proxy')) {
    c.ak_proxy = { user_attributes: structuredClone(user.attributes), is_superuser: !!user.is_superuser };
  }
  return c;
}

// ---------------------------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------------------------

function thumbprint(jwk) {
  const members = jwk.kty === 'RSA' ? { e: jwk.e, kty: 'RSA', n: jwk.n } : { crv: jwk.crv, kty: 'EC', x: jwk.x, y: jwk.y };
  return b64u(crypto.createHash('sha256').update(JSON.stringify(members)).digest());
}

function generateKey(alg) {
  const { privateKey } = alg === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: thumbprint(jwk), alg, use: 'sig' };
}

function loadKeys() {
  if (cfg.alg === 'HS256') return [];
  if (cfg.keysFile && fs.existsSync(cfg.keysFile)) {
    const keys = JSON.parse(fs.readFileSync(cfg.keysFile, 'utf8')).keys || [];
    const usable = keys.filter((k) => (k.alg || cfg.alg) === cfg.alg && k.d);
    if (!usable.length) throw new Error(`${cfg.keysFile} holds no private ${cfg.alg} key`);
    return keys.map((k) => ({ ...k, kid: k.kid || thumbprint(k), use: k.use || 'sig' }));
  }
  const keys = [generateKey(cfg.alg)];
  if (cfg.keysFile) fs.writeFileSync(cfg.keysFile, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  return keys;
}

// The private keys, the signing key first. /-/test/rotate-key puts a new one in front (the old
// ones stay published and keep verifying); /-/test/drop-old-keys keeps only the signing key.
let privateJwks = loadKeys();
let signingJwk = privateJwks.find((k) => (k.alg || cfg.alg) === cfg.alg);
if (signingJwk) privateJwks = [signingJwk, ...privateJwks.filter((k) => k !== signingJwk)];
let signingKey = signingJwk ? crypto.createPrivateKey({ key: signingJwk, format: 'jwk' }) : null;

const publicJwk = (k) => {
  const pub = crypto.createPublicKey({ key: k, format: 'jwk' }).export({ format: 'jwk' });
  return {
    kty: pub.kty, alg: k.alg || cfg.alg, use: 'sig', kid: k.kid, ...pub,
  };
};

function publicJwks() {
  if (cfg.alg === 'HS256') return {}; // authentik: no signing key -> the JWKS body is `{}`
  return { keys: privateJwks.map(publicJwk) };
}

// sign/verify a compact JWS ourselves (token-mode mutations, userinfo, introspection)
function signJws(header, payload, { alg = cfg.alg, secret = cfg.clientSecret, key = signingKey } = {}) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  let sig;
  if (alg === 'none') sig = Buffer.alloc(0);
  else if (alg === 'HS256') sig = crypto.createHmac('sha256', secret).update(input).digest();
  else if (alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), key);
  else if (alg === 'ES256') sig = crypto.sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  else throw new Error(`cannot sign ${alg}`);
  return `${input}.${b64u(sig)}`;
}

function decodeJws(jwt) {
  const parts = String(jwt).split('.');
  if (parts.length !== 3) return null;
  try {
    return {
      header: JSON.parse(Buffer.from(parts[0], 'base64url')),
      payload: JSON.parse(Buffer.from(parts[1], 'base64url')),
      input: `${parts[0]}.${parts[1]}`,
      sig: Buffer.from(parts[2], 'base64url'),
    };
  } catch {
    return null;
  }
}

// Returns the payload of a token this IdP issued and that is still valid, else null.
function verifyOwnJws(jwt, issuer) {
  const d = decodeJws(jwt);
  if (!d || d.header.alg !== cfg.alg) return null;
  let ok = false;
  if (cfg.alg === 'HS256') {
    ok = safeEqual(crypto.createHmac('sha256', cfg.clientSecret).update(d.input).digest('base64url'), d.sig.toString('base64url'));
  } else {
    const jwk = privateJwks.find((k) => k.kid === d.header.kid);
    if (!jwk) return null;
    const pub = crypto.createPublicKey({ key: jwk, format: 'jwk' });
    ok = crypto.verify('sha256', Buffer.from(d.input), cfg.alg === 'ES256' ? { key: pub, dsaEncoding: 'ieee-p1363' } : pub, d.sig);
  }
  if (!ok) return null;
  const p = d.payload;
  if (p.iss !== issuer || typeof p.exp !== 'number' || p.exp <= epoch()) return null;
  return p;
}

// ---------------------------------------------------------------------------------------------
// storage: a Map with TTL expiry (the built-in MemoryAdapter is an LRU capped at 1000 entries)
// ---------------------------------------------------------------------------------------------

const store = new Map();
const grantIndex = new Map();
const uidIndex = new Map();
const userCodeIndex = new Map();

class MapAdapter {
  constructor(name) { this.name = name; }

  key(id) { return `${this.name}:${id}`; }

  async upsert(id, payload, expiresIn) {
    const key = this.key(id);
    store.set(key, { payload, exp: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (payload.grantId) {
      if (!grantIndex.has(payload.grantId)) grantIndex.set(payload.grantId, new Set());
      grantIndex.get(payload.grantId).add(key);
    }
    if (payload.uid) uidIndex.set(`${this.name}:${payload.uid}`, id);
    if (payload.userCode) userCodeIndex.set(`${this.name}:${payload.userCode}`, id);
  }

  async find(id) {
    const key = this.key(id);
    const e = store.get(key);
    if (!e) return undefined;
    if (e.exp <= Date.now()) { store.delete(key); return undefined; }
    return e.payload;
  }

  async findByUid(uid) {
    const id = uidIndex.get(`${this.name}:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = userCodeIndex.get(`${this.name}:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const e = store.get(this.key(id));
    if (e) e.payload.consumed = epoch();
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    const keys = grantIndex.get(grantId);
    if (keys) for (const k of keys) store.delete(k);
    grantIndex.delete(grantId);
  }
}

setInterval(() => {
  const now = Date.now();
  for (const [k, e] of store) if (e.exp <= now) store.delete(k);
}, 30_000).unref();

// ---------------------------------------------------------------------------------------------
// redirect URI matching (authentik's "regex" mode)
// ---------------------------------------------------------------------------------------------

// loopback IPv4, [::1], localhost, *.localhost and *.test, any port, http or https
const HOST_RE = String.raw`(?:127(?:\.\d{1,3}){3}|\[::1\]|localhost|(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:localhost|test))(?::\d{1,5})?`;
const REDIRECT_URI_PATTERNS = [
  // <external_host>/outpost.goauthentik.io/callback?X-authentik-auth-callback=true (external_host may have a path)
  new RegExp(String.raw`^https?://${HOST_RE}(?:/[^?#]*)?/outpost\.goauthentik\.io/callback\?X-authentik-auth-callback=true$`, 'i'),
  // <external_host>?X-authentik-auth-callback=true (the second URI authentik registers)
  new RegExp(String.raw`^https?://${HOST_RE}(?:/[^?#]*)?\?X-authentik-auth-callback=true$`, 'i'),
  ...(cfg.redirectUriRegex ? [new RegExp(cfg.redirectUriRegex)] : []),
];
const POST_LOGOUT_PATTERNS = [
  new RegExp(String.raw`^https?://${HOST_RE}(?:/[^#]*)?$`, 'i'),
  ...(cfg.postLogoutRedirectUriRegex ? [new RegExp(cfg.postLogoutRedirectUriRegex)] : []),
];
const fullMatch = (patterns, value) => typeof value === 'string'
  && !/^\s*(javascript|data|vbscript):/i.test(value) && patterns.some((re) => re.test(value));

// ---------------------------------------------------------------------------------------------
// HTML (self-contained: no external assets, so a browser never leaves loopback)
// ---------------------------------------------------------------------------------------------

const STYLE = 'body{font-family:system-ui,sans-serif;background:#1c1e21;color:#eee;margin:0}'
  + 'main{max-width:360px;margin:8vh auto;padding:24px;background:#2b2e33;border-radius:6px}'
  + 'label{display:block;margin-top:12px}input{width:100%;box-sizing:border-box;padding:8px;margin-top:4px}'
  + 'button{margin-top:16px;width:100%;padding:10px;background:#fd4b2d;color:#fff;border:0;border-radius:4px;cursor:pointer}'
  + '.err{color:#ff8080}pre{white-space:pre-wrap;word-break:break-word}a{color:#9cf}';

function page(title, body) {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)}</title><style>${STYLE}</style></head>
<body><main>${body}</main></body></html>
`;
}

function loginPage(uid, clientId, { error, username } = {}) {
  return page('Log in - authentik (test IdP)', `
<h1 id="title">Welcome to authentik!</h1>
<p id="client">Log in to continue to <b>${esc(clientId)}</b>.</p>
${error ? `<p id="login-error" class="err" role="alert">${esc(error)}</p>` : ''}
<form id="login-form" method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="username">Username</label><input id="username" name="username" required autofocus value="${esc(username)}">
<label for="password">Password</label><input id="password" name="password" type="password" required>
<button id="login-submit" type="submit">Log in</button>
</form>
<p><a id="login-abort" href="/interaction/${esc(uid)}/abort">Cancel</a></p>`);
}

// ---------------------------------------------------------------------------------------------
// mutable test state
// ---------------------------------------------------------------------------------------------

const state = {
  tokenMode: cfg.tokenMode,
  tokenModeOnce: false,
  tokenModeGrant: null, // apply the token mode to this grant_type only (null: every grant)
  revokedJti: new Map(), // jti -> exp
  tokenRequests: [],
  refreshRotate: cfg.refreshRotate,
  backchannelUri: cfg.backchannelUri,
  backchannelLog: [],
  // hashed sid -> { sub, at } of every IdP session the client got tokens for (authentik only sends
  // a back-channel logout to providers that issued tokens in the ended session)
  issuedSids: new Map(),
  jwksMode: cfg.jwksMode,
  jwksModeOnce: false,
  jwksSlowMs: cfg.jwksSlowMs,
  jwksRequests: [],
};

const pushCapped = (list, entry, cap = 500) => { list.push(entry); if (list.length > cap) list.shift(); };

// One entry per token request, whatever its grant and outcome. `form` is the request body (read
// by the front middleware); passwords, secrets, codes and tokens are never recorded.
function recordTokenRequest(ctx, outcome) {
  const p = ctx.state.tokenForm || ctx.oidc?.params || {};
  const entry = {
    at: new Date().toISOString(),
    host: ctx.get('host'),
    outcome,
    mode: ctx.state.tokenModeApplied ?? state.tokenMode,
    grant_type: p.grant_type,
    redirect_uri: p.redirect_uri,
    code_verifier: p.code_verifier ? true : false,
    client_auth: ctx.get('authorization') ? 'client_secret_basic' : (p.client_secret ? 'client_secret_post' : 'none'),
    content_type: ctx.get('content-type'),
  };
  if (p.scope !== undefined) entry.scope = String(p.scope);
  if (p.grant_type === 'client_credentials') entry.username = p.username === undefined ? null : String(p.username);
  if (p.grant_type === 'refresh_token') entry.refresh_token_sent = Boolean(p.refresh_token);
  if (ctx.state.tokenResult) Object.assign(entry, ctx.state.tokenResult);
  pushCapped(state.tokenRequests, entry, 200);
}

// ---------------------------------------------------------------------------------------------
// server
// ---------------------------------------------------------------------------------------------

let handler = (req, res) => { res.statusCode = 503; res.end(); };
const server = http.createServer((req, res) => handler(req, res));
server.keepAliveTimeout = 5000;

await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(cfg.port, cfg.host, resolve);
});
const { port } = server.address();

const origin = (cfg.publicOrigin || `http://${cfg.host.includes(':') ? `[${cfg.host}]` : cfg.host}:{port}`)
  .replace('{port}', String(port)).replace(/\/+$/, '');
const base = `/application/o/${cfg.slug}/`;
const issuer = `${origin}${base}`;
const RESOURCE = `urn:authentik:proxy:${encodeURIComponent(cfg.clientId)}`;

const ROUTES = {
  authorization: '/application/o/authorize/',
  token: '/application/o/token/',
  userinfo: '/application/o/userinfo/',
  introspection: '/application/o/introspect/',
  revocation: '/application/o/revoke/',
  end_session: `${base}end-session/`,
  jwks: `${base}jwks/`,
};
const DISCOVERY = `${base}.well-known/openid-configuration`;

const hashSid = (sid) => (sid ? sha256hex(sid) : undefined);

const configuration = {
  clients: [{
    client_id: cfg.clientId,
    client_secret: cfg.clientSecret,
    client_name: `authentik proxy provider (${cfg.slug})`,
    application_type: 'web',
    // the patterns in REDIRECT_URI_PATTERNS are what really decides (see redirectUriAllowed below)
    redirect_uris: ['http://127.0.0.1/outpost.goauthentik.io/callback?X-authentik-auth-callback=true'],
    post_logout_redirect_uris: ['http://127.0.0.1/'],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'], // client_credentials: see clientCredentials()
    token_endpoint_auth_method: 'client_secret_post', // client_secret_basic is accepted too
    id_token_signed_response_alg: cfg.alg,
    require_auth_time: true,
  }],
  clientDefaults: { id_token_signed_response_alg: cfg.alg },
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  responseTypes: ['code'],
  scopes: ALL_SCOPES,
  claims: {
    acr: null,
    sid: null,
    auth_time: null,
    iss: null,
    openid: ['sub', 'acr', 'amr'],
    profile: ['name', 'given_name', 'preferred_username', 'nickname', 'groups'],
    email: ['email', 'email_verified'],
    entitlements: ['entitlements', 'roles'],
    ak_proxy: ['ak_proxy'],
  },
  conformIdTokenClaims: false,
  allowOmittingSingleRegisteredRedirectUri: false,
  acrValues: [ACR],
  routes: ROUTES,
  adapter: MapAdapter,
  jwks: { keys: privateJwks },
  enabledJWA: { idTokenSigningAlgValues: [cfg.alg] },
  cookies: {
    keys: [sha256hex(`cookie-key-${cfg.clientSecret}`)],
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  pkce: { required: () => cfg.pkceRequired, methods: ['S256'] },
  ttl: {
    AccessToken: cfg.tokenTtl,
    IdToken: cfg.tokenTtl,
    AuthorizationCode: cfg.codeTtl,
    Interaction: 600,
    RefreshToken: cfg.refreshTtl,
    // a refresh token dies with its grant and with its IdP session, so both live at least as long
    Session: Math.max(86400, cfg.refreshTtl),
    Grant: Math.max(86400, cfg.refreshTtl),
  },
  // authentik rotates the refresh token on every use (refresh_token_threshold 0); IDP_REFRESH_ROTATE=0
  // keeps the same one
  rotateRefreshToken: () => state.refreshRotate,
  // every code and refresh token is bound to the IdP session: once the session ends (logout,
  // /-/test/logout-all, /-/test/end-session) the refresh token is invalid_grant. oidc-provider's
  // default frees offline_access tokens from the session.
  expiresWithSession: async () => true,
  features: {
    devInteractions: { enabled: false },
    pushedAuthorizationRequests: { enabled: false }, // authentik has no PAR endpoint
    introspection: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        const auto = cfg.logoutAutoConfirm;
        const f = auto ? form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>') : form;
        ctx.type = 'html';
        ctx.body = page('Log out - authentik (test IdP)', `
<h1 id="logout-title">${auto ? 'Logging out&hellip;' : 'Do you want to log out?'}</h1>
${f}
<button id="logout-confirm" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, log me out</button>
${auto ? `<script>document.getElementById('op.logoutForm').submit();</script>`
    : '<button id="logout-cancel" type="submit" form="op.logoutForm">No, stay logged in</button>'}`);
      },
      postLogoutSuccessSource: async (ctx) => {
        ctx.type = 'html';
        ctx.body = page('Logged out - authentik (test IdP)', '<h1 id="logout-success">You have been logged out.</h1>');
      },
    },
    resourceIndicators: {
      enabled: true,
      // a plain authorize request (no `resource`) is for the provider's own access token
      defaultResource: async (ctx, client, oneOf) => (oneOf ? (oneOf.includes(RESOURCE) ? RESOURCE : oneOf[0]) : RESOURCE),
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource, client) => {
        if (resource !== RESOURCE) throw new errors.InvalidTarget();
        return {
          scope: ALL_SCOPES.join(' '),
          audience: client.clientId,
          accessTokenTTL: cfg.tokenTtl,
          accessTokenFormat: 'jwt',
          jwt: { sign: cfg.alg === 'HS256' ? { alg: 'HS256', key: client.clientSecret } : { alg: cfg.alg, kid: signingJwk.kid } },
        };
      },
    },
  },
  // authentik's claims for the JWT access token (the id_token gets them via findAccount)
  async extraTokenClaims(ctx, token) {
    if (token.kind !== 'AccessToken') return undefined;
    const user = usersBySub.get(token.accountId);
    if (!user) return undefined;
    const src = ctx.oidc.entities.AuthorizationCode || ctx.oidc.entities.RefreshToken || {};
    const sid = hashSid(token.sid || src.sid);
    if (sid) {
      state.issuedSids.delete(sid); // re-insert: the Map stays ordered by last issue
      state.issuedSids.set(sid, { sub: user.sub, at: Date.now() });
      if (state.issuedSids.size > 10000) state.issuedSids.delete(state.issuedSids.keys().next().value);
    }
    return {
      auth_time: src.authTime,
      acr: src.acr || ACR,
      amr: src.amr || ['pwd'],
      sid,
      ...scopeClaims(user, token.scopes),
      azp: token.clientId,
      uid: crypto.randomBytes(20).toString('hex'),
    };
  },
  formats: {
    customizers: {
      // oidc-provider writes typ "at+jwt" and a client_id claim; authentik (PyJWT) writes typ
      // "JWT" and no client_id. Also put the claims in authentik's order.
      async jwt(ctx, token, jwt) {
        const p = jwt.payload;
        const order = ['iss', 'sub', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'amr', 'sid', 'jti'];
        const out = {};
        for (const k of order) if (p[k] !== undefined) out[k] = p[k];
        for (const [k, v] of Object.entries(p)) {
          if (k !== 'client_id' && !(k in out) && v !== undefined) out[k] = v;
        }
        // azp, uid and scope last, as authentik adds them to the id_token structure
        for (const k of ['azp', 'uid', 'scope']) {
          if (k in out) { const v = out[k]; delete out[k]; out[k] = v; }
        }
        jwt.payload = out;
        jwt.header = { typ: 'JWT' };
      },
    },
  },
  async findAccount(ctx, sub) {
    const user = usersBySub.get(sub);
    if (!user) return undefined;
    return {
      accountId: sub,
      async claims(use, scope) {
        return { sub, ...scopeClaims(user, new Set(String(scope || '').split(' '))) };
      },
    };
  },
  // implicit consent (authentik's default-provider-authorization-implicit-consent)
  async loadExistingGrant(ctx) {
    const { client, session } = ctx.oidc;
    if (!session?.accountId) return undefined;
    const grantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(client.clientId);
    let grant = grantId ? await ctx.oidc.provider.Grant.find(grantId) : undefined;
    if (grant && grant.accountId !== session.accountId) grant = undefined;
    if (!grant) grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope([...ctx.oidc.requestParamOIDCScopes].join(' '));
    const claims = [...(ctx.oidc.requestParamClaims || [])];
    if (claims.length) grant.addOIDCClaims(claims);
    for (const [identifier, rs] of Object.entries(ctx.oidc.resourceServers || {})) {
      const wanted = [...ctx.oidc.requestParamScopes].filter((s) => rs.scopes.has(s));
      if (wanted.length) grant.addResourceScope(identifier, wanted.join(' '));
    }
    await grant.save();
    return grant;
  },
  interactions: { url: async (ctx, interaction) => `/interaction/${interaction.uid}` },
  async renderError(ctx, out) {
    ctx.type = 'html';
    ctx.body = page('Error - authentik (test IdP)', `<h1>Something went wrong</h1>
<pre id="error">${esc(out.error)}</pre><pre id="error_description">${esc(out.error_description || '')}</pre>`);
  },
  // oidc-provider only makes outbound requests for client jwks_uri / sector_identifier_uri /
  // request_uri, none of which is configured here. Refuse anything but loopback regardless.
  httpOptions(url) {
    if (!/^(127(?:\.\d{1,3}){3}|\[::1\]|localhost|.+\.localhost)$/i.test(url.hostname)) {
      throw new Error(`test IdP refuses to contact non-loopback host ${url.hostname}`);
    }
    return {};
  },
  discovery: {
    acr_values_supported: [ACR],
    code_challenge_methods_supported: ['S256'],
  },
};

const provider = new Provider(issuer, configuration);
provider.proxy = true;

// authentik-style regex matching of redirect URIs
const { Client } = provider;
const origRedirectUriAllowed = Client.prototype.redirectUriAllowed;
Client.prototype.redirectUriAllowed = function redirectUriAllowed(value) {
  if (this.clientId === cfg.clientId && fullMatch(REDIRECT_URI_PATTERNS, value)) return true;
  return origRedirectUriAllowed.call(this, value);
};
const origPostLogoutAllowed = Client.prototype.postLogoutRedirectUriAllowed;
Client.prototype.postLogoutRedirectUriAllowed = function postLogoutRedirectUriAllowed(value) {
  if (this.clientId === cfg.clientId && fullMatch(POST_LOGOUT_PATTERNS, value)) return true;
  return origPostLogoutAllowed.call(this, value);
};

// authentik always puts `sid` in its tokens; oidc-provider only for back-channel-logout clients
const origIncludeSid = Client.prototype.includeSid;
Client.prototype.includeSid = function includeSid() {
  return this.clientId === cfg.clientId || origIncludeSid.call(this);
};

// authentik's `sid` is a 64-hex hash of the session key; hash oidc-provider's sid the same way
// so the id_token and the access token carry the same value
const origIdPayload = provider.IdToken.prototype.payload;
provider.IdToken.prototype.payload = async function payload() {
  const p = await origIdPayload.call(this);
  if (typeof p.sid === 'string') p.sid = hashSid(p.sid);
  // OpenID Connect Core 12.2: a refreshed id_token SHOULD NOT have a nonce (authentik sends none)
  if (this.ctx?.oidc?.params?.grant_type === 'refresh_token') delete p.nonce;
  if (p.jti === undefined) p.jti = crypto.randomBytes(16).toString('hex'); // authentik id_tokens have a jti
  return p;
};

// offline_access without prompt=consent. oidc-provider's check_scope drops offline_access unless
// the authorize request has prompt=consent (OpenID Connect Core 11); authentik has no such rule,
// and its outpost never sends a prompt. For an authorize GET whose scope has offline_access and
// no prompt, the front middleware sets ctx.state.offlineWithoutPrompt, and check_scope alone
// (identified by its stack frame) then sees "consent" among the prompts. Nothing else does, so
// no consent prompt is forced and single sign-on still needs no interaction.
{
  const desc = Object.getOwnPropertyDescriptor(provider.OIDCContext.prototype, 'prompts');
  if (!desc?.get) throw new Error('oidc-provider OIDCContext has no prompts getter (not 8.8.1?)');
  Object.defineProperty(provider.OIDCContext.prototype, 'prompts', {
    ...desc,
    get() {
      const prompts = desc.get.call(this);
      if (this.ctx?.state?.offlineWithoutPrompt && !prompts.has('consent')
          && /[\\/]check_scope\.js:\d+/.test(new Error().stack)) {
        prompts.add('consent');
      }
      return prompts;
    },
  });
}

// The oidc-provider keystore, to rotate the signing key at runtime (RS256/ES256 only).
const keystore = providerInstance(provider).keystore;
if (cfg.alg !== 'HS256' && (typeof keystore?.clear !== 'function' || typeof keystore?.add !== 'function'
    || typeof keystore?.selectForSign !== 'function')) {
  throw new Error('oidc-provider keystore is not what this script expects (not 8.8.1?)');
}

function installKeys() {
  keystore.clear();
  // the signing key first: selectForSign (id_token) takes the first key of the algorithm, and
  // the access token names its kid (getResourceServerInfo)
  for (const k of privateJwks) keystore.add({ ...k });
  signingKey = crypto.createPrivateKey({ key: signingJwk, format: 'jwk' });
  writeJwksOut();
}

function rotateKey() {
  const jwk = generateKey(cfg.alg);
  privateJwks = [jwk, ...privateJwks];
  signingJwk = jwk;
  installKeys();
  return jwk;
}

function dropOldKeys() {
  const dropped = privateJwks.filter((k) => k !== signingJwk).map((k) => k.kid);
  privateJwks = [signingJwk];
  installKeys();
  return dropped;
}

provider.on('grant.success', (ctx) => {
  const body = ctx.body && typeof ctx.body === 'object' ? ctx.body : {};
  const { RotatedRefreshToken, Account } = ctx.oidc.entities;
  const refresh = ctx.oidc.params?.grant_type === 'refresh_token';
  // a refresh that keeps the old token answers without refresh_token (see the front middleware)
  const result = { refresh_token_issued: Boolean(body.refresh_token) && (!refresh || Boolean(RotatedRefreshToken)) };
  if (refresh) result.refresh_token_rotated = Boolean(RotatedRefreshToken);
  const user = Account ? usersBySub.get(Account.accountId) : undefined;
  if (user) result.username = user.username;
  ctx.state.tokenResult = result;
  recordTokenRequest(ctx, 'success');
});
provider.on('grant.error', (ctx, err) => recordTokenRequest(ctx, `error:${err.error || err.message}`));
provider.on('server_error', (ctx, err) => console.error('[idp] server_error', ctx?.method, ctx?.path, err));

// fail fast on a bad static client configuration (oidc-provider builds static clients lazily)
if (!(await Client.find(cfg.clientId))) throw new Error('client configuration invalid');

// ---------------------------------------------------------------------------------------------
// token endpoint test modes
// ---------------------------------------------------------------------------------------------

function mutateJwt(jwt, mode, { nonce = false } = {}) {
  const d = decodeJws(jwt);
  if (!d) return jwt;
  const now = epoch();
  const header = { ...d.header };
  const payload = { ...d.payload };
  switch (mode) {
    case 'bad_signature': {
      const [h, p, s] = jwt.split('.');
      const sig = Buffer.from(s, 'base64url');
      sig[0] ^= 0x01;
      return `${h}.${p}.${b64u(sig)}`;
    }
    case 'wrong_key':
      return signJws(header, payload, { secret: `${cfg.clientSecret}-wrong`, key: crypto.createPrivateKey({ key: generateKey(cfg.alg), format: 'jwk' }) });
    case 'wrong_issuer': payload.iss = `${origin}/application/o/some-other-app/`; break;
    case 'wrong_audience': payload.aud = `${cfg.clientId}-other`; if (payload.azp) payload.azp = payload.aud; break;
    case 'expired': payload.iat = now - 7200; payload.exp = now - 3600; break;
    case 'not_yet_valid': payload.nbf = now + 3600; payload.iat = now + 3600; payload.exp = now + 7200; break;
    case 'alg_none': return signJws({ alg: 'none', typ: 'JWT' }, payload, { alg: 'none' });
    case 'nonce_mismatch': if (!nonce) return jwt; payload.nonce = `${payload.nonce || ''}-mismatch`; break;
    default: return jwt;
  }
  return signJws(header, payload);
}

function applyTokenMode(body, mode) {
  switch (mode) {
    case 'opaque_access_token': body.access_token = crypto.randomBytes(32).toString('base64url'); break;
    case 'no_id_token': delete body.id_token; break;
    case 'nonce_mismatch': if (body.id_token) body.id_token = mutateJwt(body.id_token, mode, { nonce: true }); break;
    default:
      body.access_token = mutateJwt(body.access_token, mode);
      if (body.id_token) body.id_token = mutateJwt(body.id_token, mode);
  }
}

const INVALID_GRANT_DESCRIPTION = 'The provided authorization grant or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client';

function takeTokenMode(grantType) {
  const mode = state.tokenMode;
  if (mode === 'ok' || (state.tokenModeGrant && state.tokenModeGrant !== grantType)) return 'ok';
  if (state.tokenModeOnce) { state.tokenMode = 'ok'; state.tokenModeOnce = false; state.tokenModeGrant = null; }
  return mode;
}

// ---------------------------------------------------------------------------------------------
// client authentication for our own introspection / revocation handlers
// ---------------------------------------------------------------------------------------------

function clientAuthenticated(ctx, body) {
  const auth = ctx.get('authorization');
  let id; let secret;
  if (/^basic /i.test(auth)) {
    const raw = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    const i = raw.indexOf(':');
    if (i < 0) return false;
    try {
      id = decodeURIComponent(raw.slice(0, i).replace(/\+/g, ' '));
      secret = decodeURIComponent(raw.slice(i + 1).replace(/\+/g, ' '));
    } catch { return false; }
  } else {
    id = body.client_id; secret = body.client_secret;
  }
  return id === cfg.clientId && typeof secret === 'string' && safeEqual(secret, cfg.clientSecret);
}

function isRevoked(payload) {
  for (const [jti, exp] of state.revokedJti) if (exp <= epoch()) state.revokedJti.delete(jti);
  return state.revokedJti.has(payload.jti);
}

// ---------------------------------------------------------------------------------------------
// IdP sessions and back-channel logout (OpenID Connect Back-Channel Logout 1.0)
// ---------------------------------------------------------------------------------------------

// The stored oidc-provider Session the request's `_session` cookie names, reduced to what a
// logout needs: { id, sub, auth: { sid, grantId } } (auth: this client's part of the session).
function sessionFromCookie(ctx) {
  let id;
  try { id = ctx.cookies.get(provider.cookieName('session'), { signed: true }); } catch { return null; }
  if (!id) return null;
  const e = store.get(`Session:${id}`);
  if (!e || e.exp <= Date.now()) return null;
  return sessionSummary(id, e.payload);
}

function sessionSummary(id, payload) {
  const auth = payload.authorizations?.[cfg.clientId];
  return {
    id,
    sub: payload.accountId,
    auth: auth ? { sid: auth.sid, grantId: auth.grantId } : null,
  };
}

// Drop a grant and every token stored under it (refresh tokens, codes).
function revokeGrant(grantId) {
  const keys = grantIndex.get(grantId);
  if (keys) for (const k of keys) store.delete(k);
  grantIndex.delete(grantId);
  store.delete(`Grant:${grantId}`);
}

// End every IdP session for which pick(payload) is true: the session, its grant and its refresh
// tokens are gone, and the back-channel logout is sent for each. Resolves to the summary.
async function endSessions(pick, reason) {
  const ended = [];
  for (const [k, e] of store) {
    if (!k.startsWith('Session:') || e.exp <= Date.now() || !pick(e.payload)) continue;
    ended.push(sessionSummary(k.slice('Session:'.length), e.payload));
    store.delete(k);
  }
  for (const s of ended) if (s.auth?.grantId) revokeGrant(s.auth.grantId);
  const deliveries = await backchannelLogout(ended, reason);
  return { sessions_removed: ended.length, backchannel: deliveries };
}

// The logout token of one session: signed like the id_token (HS256 with the client secret, or the
// current RS256/ES256 signing key with its kid), header typ "logout+jwt".
function makeLogoutToken({ sub, sid }) {
  const now = epoch();
  const payload = { iss: issuer };
  if (sub !== undefined) payload.sub = sub;
  Object.assign(payload, {
    aud: cfg.clientId,
    iat: now,
    exp: now + cfg.logoutTokenTtl,
    jti: crypto.randomBytes(16).toString('hex'),
    events: { [BACKCHANNEL_EVENT]: {} },
  });
  if (sid !== undefined) payload.sid = sid;
  const header = { alg: cfg.alg, typ: 'logout+jwt' };
  if (cfg.alg !== 'HS256') header.kid = signingJwk.kid;
  return { logout_token: signJws(header, payload), header, claims: payload };
}

// POST logout_token=<jwt> to the loopback URI; resolves to { status } or { status: 0, error }.
function postLogoutToken(uri, token) {
  const target = loopbackTarget(uri);
  if (!target) return Promise.resolve({ status: 0, error: backchannelUriProblem(uri) });
  const body = querystring.stringify({ logout_token: token });
  const mod = target.url.protocol === 'https:' ? https : http;
  return new Promise((resolve) => {
    const req = mod.request({
      host: target.address,
      port: target.url.port || (target.url.protocol === 'https:' ? 443 : 80),
      path: `${target.url.pathname}${target.url.search}`,
      method: 'POST',
      servername: target.address === '127.0.0.1' && target.url.hostname !== '127.0.0.1' ? target.url.hostname : undefined,
      agent: false,
      headers: {
        Host: target.url.host,
        'Content-Type': 'application/x-www-form-urlencoded',
        'Content-Length': Buffer.byteLength(body),
        'User-Agent': 'authentik-test-idp (back-channel logout)',
        Accept: 'application/json',
        Connection: 'close',
      },
      timeout: cfg.backchannelTimeoutMs,
    }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode }));
      res.on('error', (err) => resolve({ status: res.statusCode, error: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${cfg.backchannelTimeoutMs} ms`)));
    req.on('error', (err) => resolve({ status: 0, error: err.message }));
    req.end(body);
  });
}

// Send the back-channel logout for ended sessions the client got tokens in. Without a
// configured URI nothing is sent or logged. Resolves to the log entries it added.
async function backchannelLogout(sessions, reason) {
  const uri = state.backchannelUri;
  if (!uri) return [];
  const jobs = [];
  for (const s of sessions) {
    const sid = hashSid(s.auth?.sid);
    if (!sid || !state.issuedSids.has(sid)) continue;
    const { logout_token: token, claims } = makeLogoutToken({ sub: s.sub, sid });
    jobs.push((async () => {
      const t0 = Date.now();
      const r = await postLogoutToken(uri, token);
      const entry = {
        at: new Date(t0).toISOString(),
        uri,
        status: r.status,
        ...(r.error ? { error: r.error } : {}),
        ms: Date.now() - t0,
        reason,
        sid: claims.sid,
        sub: claims.sub,
        username: usersBySub.get(claims.sub)?.username ?? null,
        jti: claims.jti,
        iat: claims.iat,
        exp: claims.exp,
      };
      log(`back-channel logout ${reason} sid=${sid.slice(0, 8)}… -> ${uri}: ${r.status}${r.error ? ` (${r.error})` : ''}`);
      pushCapped(state.backchannelLog, entry, 500);
      return entry;
    })());
  }
  return Promise.all(jobs);
}

// ---------------------------------------------------------------------------------------------
// JWKS test modes
// ---------------------------------------------------------------------------------------------

const SYMMETRIC_JWK = {
  kty: 'oct', kid: `oct-${crypto.randomBytes(6).toString('hex')}`, alg: 'HS256', use: 'sig', k: b64u(crypto.randomBytes(32)),
};

function takeJwksMode() {
  const mode = state.jwksMode;
  if (state.jwksModeOnce && mode !== 'ok') { state.jwksMode = 'ok'; state.jwksModeOnce = false; }
  return mode;
}

async function serveJwks(ctx, mode) {
  ctx.set('Access-Control-Allow-Origin', '*');
  const jwks = publicJwks();
  const keys = jwks.keys || [];
  switch (mode) {
    case 'down':
      ctx.status = 503; ctx.type = 'text/plain'; ctx.body = 'Service Unavailable';
      return;
    case 'slow': {
      const ms = state.jwksSlowMs;
      const { socket } = ctx.req;
      await new Promise((resolve) => {
        const done = () => { clearTimeout(timer); socket.off('close', done); resolve(); };
        const timer = setTimeout(done, ms);
        socket.once('close', done);
      });
      json(ctx, 200, jwks);
      return;
    }
    case 'garbage':
      ctx.status = 200; ctx.type = 'application/json'; ctx.body = '<html>this is not a JWKS {';
      return;
    case 'huge': {
      // a valid JWKS (the real keys) padded to 2 MiB
      const head = JSON.stringify({ keys, padding: '' });
      const pad = 2 * 1024 * 1024 - Buffer.byteLength(head);
      ctx.status = 200; ctx.type = 'application/json';
      ctx.body = JSON.stringify({ keys, padding: 'x'.repeat(Math.max(0, pad)) });
      return;
    }
    case 'private':
      json(ctx, 200, { keys: privateJwks.map((k) => ({ ...publicJwk(k), ...k })) });
      return;
    case 'symmetric':
      json(ctx, 200, { keys: [SYMMETRIC_JWK, ...keys] });
      return;
    case 'empty':
      json(ctx, 200, { keys: [] });
      return;
    default:
      json(ctx, 200, jwks);
  }
}

// ---------------------------------------------------------------------------------------------
// client_credentials with an app password (authentik's "username + app-password token" variant)
// ---------------------------------------------------------------------------------------------

function tokenHeader() {
  const h = { alg: cfg.alg, typ: 'JWT' };
  if (cfg.alg !== 'HS256') h.kid = signingJwk.kid;
  return h;
}

// POST grant_type=client_credentials&client_id=…&username=…&password=<app password>&scope=…
// No client secret (authentik doesn't check it for this grant). There is no IdP session, so the
// tokens have no sid and no amr, and no refresh token is issued.
// authentik's refresh checks where oidc-provider differs. Answers (and returns true) for:
// * a rotated-out (consumed) refresh token: invalid_grant, and nothing else happens. oidc-provider
//   would also revoke the whole grant (reuse detection); authentik only refuses the old token.
// * a `scope` that is not a subset of the refresh token's or lacks offline_access: invalid_scope.
// Otherwise drops `scope` from the body oidc-provider parses: authentik ignores a narrower scope
// and issues the refresh token's scope.
async function refreshPrecheck(ctx, form) {
  const answer = (error, description) => {
    recordTokenRequest(ctx, `error:${error}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    json(ctx, 400, { error, error_description: description });
    return true;
  };
  if (typeof form.refresh_token !== 'string' || !form.refresh_token) return false;
  let rt;
  try { rt = await provider.RefreshToken.find(form.refresh_token); } catch { rt = undefined; }
  if (!rt || rt.clientId !== cfg.clientId || rt.isExpired) return false; // oidc-provider: invalid_grant
  if (rt.consumed) return answer('invalid_grant', INVALID_GRANT_DESCRIPTION);
  if (form.scope !== undefined) {
    const want = String(form.scope).split(' ').filter(Boolean);
    const have = new Set(String(rt.scope || '').split(' '));
    if (want.some((x) => !have.has(x)) || (want.length && !want.includes(OFFLINE))) {
      return answer('invalid_scope', 'The requested scope is invalid, unknown, or malformed.');
    }
    const { scope, ...rest } = form;
    ctx.req.body = querystring.stringify(rest);
  }
  return false;
}

function clientCredentials(ctx, form) {
  const fail = (status, error, description) => {
    ctx.state.tokenResult = { username: form.username === undefined ? null : String(form.username) };
    recordTokenRequest(ctx, `error:${error}`);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
    json(ctx, status, { error, error_description: description });
  };
  let clientId = form.client_id;
  const auth = ctx.get('authorization');
  if (/^basic /i.test(auth)) {
    const raw = Buffer.from(auth.slice(6).trim(), 'base64').toString('utf8');
    clientId = raw.includes(':') ? raw.slice(0, raw.indexOf(':')) : raw;
  }
  if (clientId !== cfg.clientId) {
    fail(400, 'invalid_client', 'Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method)');
    return;
  }
  const user = typeof form.username === 'string' ? usersByName.get(form.username) : undefined;
  if (!user || typeof form.password !== 'string' || !safeEqual(form.password, user.app_password)) {
    fail(400, 'invalid_grant', INVALID_GRANT_DESCRIPTION);
    return;
  }
  const requested = typeof form.scope === 'string' ? form.scope.split(' ').filter(Boolean) : [];
  let scopes = [...new Set(requested)].filter((x) => SCOPES.includes(x));
  if (requested.length === 0) scopes = [...SCOPES]; // as authorize does without a scope
  const scopeSet = new Set(scopes);
  const now = epoch();
  const claims = scopeClaims(user, scopeSet);
  const at = {
    iss: issuer,
    sub: user.sub,
    aud: cfg.clientId,
    exp: now + cfg.tokenTtl,
    iat: now,
    auth_time: now,
    acr: ACR,
    jti: crypto.randomBytes(16).toString('base64url').slice(0, 21),
    ...claims,
    azp: cfg.clientId,
    uid: crypto.randomBytes(20).toString('hex'),
    scope: scopes.join(' '),
  };
  // the id_token in oidc-provider's claim order, like the code flow's (no nonce, at_hash, sid)
  const idt = {
    sub: user.sub,
    acr: ACR,
    ...claims,
    auth_time: now,
    jti: crypto.randomBytes(16).toString('hex'),
    aud: cfg.clientId,
    exp: now + cfg.tokenTtl,
    iat: now,
    iss: issuer,
  };
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Pragma', 'no-cache');
  json(ctx, 200, {
    access_token: signJws(tokenHeader(), at),
    token_type: 'Bearer',
    scope: scopes.join(' '),
    expires_in: cfg.tokenTtl,
    id_token: signJws(tokenHeader(), idt),
  });
  ctx.state.tokenResult = { username: user.username, refresh_token_issued: false };
  recordTokenRequest(ctx, 'success');
}

// ---------------------------------------------------------------------------------------------
// front middleware: authentik paths, interactions, test admin endpoints
// ---------------------------------------------------------------------------------------------

const SLASHLESS = new Map([
  ROUTES.authorization, ROUTES.userinfo, ROUTES.jwks, ROUTES.end_session, base, '/-/health/live/', '/-/health/ready/',
].map((p) => [p.replace(/\/$/, ''), p]));

function json(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = body;
}

provider.use(async (ctx, next) => {
  const t0 = Date.now();
  try {
    await front(ctx, next);
  } finally {
    log(`${ctx.method} ${ctx.originalUrl} -> ${ctx.status} (${Date.now() - t0} ms)`);
  }
});

async function front(ctx, next) {
  const p = ctx.path;

  // --- health
  if (p === '/-/health/live/' || p === '/-/health/ready/') { ctx.status = 204; return; }

  // --- Django APPEND_SLASH for GETs
  if ((ctx.method === 'GET' || ctx.method === 'HEAD') && SLASHLESS.has(p)) {
    ctx.status = 301;
    ctx.redirect(`${SLASHLESS.get(p)}${ctx.search}`);
    return;
  }

  // --- /application/o/<slug>/ redirects to discovery, as authentik does
  if (p === base && ctx.method === 'GET') { ctx.redirect(DISCOVERY); return; }

  // --- discovery at authentik's paths (oidc-provider hard-codes /.well-known/openid-configuration)
  if (p === DISCOVERY || p === `/.well-known/oauth-authorization-server${base}` || p === '/.well-known/openid-configuration') {
    ctx.path = '/.well-known/openid-configuration';
    await next();
    if (ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      const d = ctx.body;
      delete d.authorization_response_iss_parameter_supported;
      d.id_token_signing_alg_values_supported = [cfg.alg];
      d.subject_types_supported = ['public'];
      d.token_endpoint_auth_methods_supported = ['client_secret_post', 'client_secret_basic'];
      d.response_modes_supported = ['query'];
      d.grant_types_supported = ['authorization_code', 'refresh_token', 'client_credentials'];
      d.claims_supported = [...new Set([...(d.claims_supported || []), 'aud', 'exp', 'iat', 'nonce'])];
      ctx.set('Access-Control-Allow-Origin', '*');
    }
    return;
  }

  // --- JWKS: authentik serves `{}` when there is no signing key (HS256); test modes; counted
  if (p === ROUTES.jwks && ctx.method === 'GET') {
    const mode = takeJwksMode();
    pushCapped(state.jwksRequests, {
      at: new Date().toISOString(), t: Date.now(), mode, host: ctx.get('host'), user_agent: ctx.get('user-agent') || null,
    }, 1000);
    await serveJwks(ctx, mode);
    return;
  }

  // --- authorize: authentik defaults to all scopes when none are requested
  if (p === ROUTES.authorization && ctx.method === 'GET' && ctx.query.scope === undefined && ctx.query.client_id) {
    ctx.querystring = querystring.stringify({ ...ctx.query, scope: DEFAULT_SCOPE });
  }
  // --- authorize: offline_access needs no prompt=consent (see the OIDCContext prompts wrapper)
  if (p === ROUTES.authorization && ctx.method === 'GET' && ctx.query.prompt === undefined
      && typeof ctx.query.scope === 'string' && ctx.query.scope.split(' ').includes(OFFLINE)) {
    ctx.state.offlineWithoutPrompt = true;
  }

  // --- end-session: oidc-provider ignores post_logout_redirect_uri unless a client is named;
  //     authentik's end-session is per application, so name our (only) client
  if (p === ROUTES.end_session && ctx.method === 'GET' && ctx.query.post_logout_redirect_uri
      && !ctx.query.client_id && !ctx.query.id_token_hint) {
    ctx.querystring = querystring.stringify({ ...ctx.query, client_id: cfg.clientId });
  }

  // --- token endpoint with test modes. The body is read here (to know the grant), and handed
  //     to oidc-provider's parser as an already-read body.
  if (p === ROUTES.token && ctx.method === 'POST') {
    const raw = await readRaw(ctx, 56 * 1024);
    ctx.req.body = raw;
    ctx.state.tokenForm = ctx.is('application/x-www-form-urlencoded') ? querystring.parse(raw) : {};
    const mode = takeTokenMode(String(ctx.state.tokenForm.grant_type ?? ''));
    ctx.state.tokenModeApplied = mode;
    if (mode === 'invalid_grant' || mode === 'server_error' || mode === 'garbage') {
      recordTokenRequest(ctx, `forced:${mode}`);
      if (mode === 'invalid_grant') {
        json(ctx, 400, { error: 'invalid_grant', error_description: INVALID_GRANT_DESCRIPTION });
      } else if (mode === 'server_error') {
        json(ctx, 500, { error: 'server_error' });
      } else {
        ctx.status = 200; ctx.type = 'text/html'; ctx.body = '<html>not json</html>';
      }
      return;
    }
    if (ctx.state.tokenForm.grant_type === 'client_credentials') {
      clientCredentials(ctx, ctx.state.tokenForm);
    } else if (ctx.state.tokenForm.grant_type === 'refresh_token' && await refreshPrecheck(ctx, ctx.state.tokenForm)) {
      // answered by refreshPrecheck
    } else {
      await next();
      if (ctx.state.tokenForm.grant_type === 'refresh_token' && ctx.status === 200 && ctx.body?.refresh_token
          && !ctx.oidc?.entities?.RotatedRefreshToken) {
        delete ctx.body.refresh_token; // authentik sends no refresh_token when it keeps the old one
      }
    }
    if (mode !== 'ok' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object' && ctx.body.access_token) {
      applyTokenMode(ctx.body, mode);
    }
    return;
  }

  // --- end-session confirmation (RP-initiated logout): compare the session before and after, and
  //     send the back-channel logout when the client's part of it ended
  if (ctx.method === 'POST' && p.startsWith(ROUTES.end_session)) {
    const before = sessionFromCookie(ctx);
    await next();
    if (before?.auth?.sid) {
      const after = store.get(`Session:${before.id}`)?.payload;
      const stillThere = after && after.authorizations?.[cfg.clientId]?.sid === before.auth.sid;
      if (!stillThere) {
        if (before.auth.grantId) revokeGrant(before.auth.grantId);
        await backchannelLogout([before], 'end-session');
      }
    }
    return;
  }

  // --- userinfo: oidc-provider refuses access tokens that carry an audience, authentik doesn't
  if (p === ROUTES.userinfo && (ctx.method === 'GET' || ctx.method === 'POST')) {
    const m = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    let token = m?.[1];
    if (!token && ctx.method === 'POST' && ctx.is('application/x-www-form-urlencoded')) token = (await readBody(ctx)).access_token;
    const payload = token ? verifyOwnJws(token, issuer) : null;
    if (!payload || isRevoked(payload) || !String(payload.scope || '').split(' ').includes('openid')) {
      ctx.set('WWW-Authenticate', 'Bearer realm="authentik", error="invalid_token"');
      json(ctx, 401, { error: 'invalid_token' });
      return;
    }
    const user = usersBySub.get(payload.sub);
    if (!user) { json(ctx, 401, { error: 'invalid_token' }); return; }
    json(ctx, 200, { sub: user.sub, ...scopeClaims(user, new Set(payload.scope.split(' '))) });
    return;
  }

  // --- introspection and revocation of our JWT access tokens
  if ((p === ROUTES.introspection || p === ROUTES.revocation) && ctx.method === 'POST') {
    const body = await readBody(ctx);
    if (!clientAuthenticated(ctx, body)) {
      json(ctx, 401, { error: 'invalid_client' });
      return;
    }
    const payload = body.token ? verifyOwnJws(body.token, issuer) : null;
    if (p === ROUTES.revocation) {
      if (payload?.jti) state.revokedJti.set(payload.jti, payload.exp);
      if (!payload && typeof body.token === 'string' && body.token) {
        // a refresh token: gone for good (its grant and session stay)
        let rt;
        try { rt = await provider.RefreshToken.find(body.token, { ignoreExpiration: true, ignoreSessionBinding: true }); } catch { rt = undefined; }
        if (rt && rt.clientId === cfg.clientId) await rt.destroy();
      }
      ctx.status = 200; ctx.body = '';
      return;
    }
    if (!payload || isRevoked(payload) || payload.aud !== cfg.clientId) { json(ctx, 200, { active: false }); return; }
    json(ctx, 200, {
      ...payload, active: true, client_id: cfg.clientId, token_type: 'access_token',
    });
    return;
  }

  // --- interactions: login form and implicit consent
  const im = /^\/interaction\/([^/]+)(\/login|\/abort)?\/?$/.exec(p);
  if (im) { await interaction(ctx, im[2]); return; }

  // --- test admin endpoints
  if (p.startsWith('/-/test/')) { await admin(ctx, p.slice('/-/test/'.length)); return; }

  await next();

  // RFC 9207 `iss` on the authorization response: oidc-provider always adds it, authentik doesn't
  if (!cfg.issParam && (ctx.status === 302 || ctx.status === 303)) {
    const loc = ctx.response.get('Location');
    if (loc && loc.includes('iss=')) {
      try {
        const u = new URL(loc);
        if (u.searchParams.get('iss') === issuer && (u.searchParams.has('code') || u.searchParams.has('error'))) {
          u.searchParams.delete('iss');
          ctx.set('Location', u.href);
        }
      } catch { /* not a URL we care about */ }
    }
  }
}

async function finishInteraction(ctx, result) {
  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
  ctx.status = 303;
  ctx.redirect(returnTo);
}

async function loginResult(user) {
  return {
    login: {
      accountId: user.sub, acr: ACR, amr: ['pwd'], remember: true,
    },
  };
}

async function interaction(ctx, action) {
  ctx.set('Cache-Control', 'no-store');
  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    ctx.status = 400;
    ctx.type = 'html';
    ctx.body = page('Error - authentik (test IdP)', `<h1>Login session expired</h1><pre id="error">${esc(err.message)}</pre>`);
    return;
  }
  const { uid, prompt, params } = details;

  if (action === '/abort') {
    await finishInteraction(ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' });
    return;
  }

  if (prompt.name === 'consent') {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session.accountId, clientId: params.client_id });
    const d = prompt.details;
    if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
    if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
    if (d.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) grant.addResourceScope(indicator, scopes.join(' '));
    }
    await finishInteraction(ctx, { consent: { grantId: await grant.save() } });
    return;
  }

  if (prompt.name !== 'login') {
    ctx.status = 400;
    ctx.body = `unsupported prompt ${prompt.name}`;
    return;
  }

  if (action === '/login') {
    if (ctx.method !== 'POST') { ctx.status = 405; return; }
    const body = await readBody(ctx);
    const user = usersByName.get(String(body.username || ''));
    if (!user || !safeEqual(String(body.password || ''), user.password)) {
      ctx.status = 401;
      ctx.type = 'html';
      ctx.body = loginPage(uid, params.client_id, { error: 'Invalid username or password', username: body.username });
      return;
    }
    await finishInteraction(ctx, await loginResult(user));
    return;
  }

  if (cfg.autoLogin) {
    const user = usersByName.get(cfg.autoLogin);
    if (!user) throw new Error(`IDP_AUTO_LOGIN user ${cfg.autoLogin} not configured`);
    await finishInteraction(ctx, await loginResult(user));
    return;
  }

  ctx.type = 'html';
  ctx.body = loginPage(uid, params.client_id, { username: params.login_hint });
}

async function admin(ctx, what) {
  const q = ctx.query;
  switch (what) {
    case 'token-mode': {
      if (q.mode !== undefined) {
        if (!TOKEN_MODES.has(q.mode)) { json(ctx, 400, { error: `unknown mode, one of ${[...TOKEN_MODES].join(' ')}` }); return; }
        if (q.grant_type !== undefined && q.grant_type !== '' && !GRANT_TYPES.has(q.grant_type)) {
          json(ctx, 400, { error: `unknown grant_type, one of ${[...GRANT_TYPES].join(' ')}` });
          return;
        }
        state.tokenMode = q.mode;
        state.tokenModeOnce = bool(q.once);
        state.tokenModeGrant = q.grant_type || null;
      }
      json(ctx, 200, { mode: state.tokenMode, once: state.tokenModeOnce, grant_type: state.tokenModeGrant });
      return;
    }
    case 'fail-token': {
      state.tokenMode = bool(q.on, true) ? 'invalid_grant' : 'ok';
      state.tokenModeOnce = bool(q.once);
      state.tokenModeGrant = null;
      json(ctx, 200, { mode: state.tokenMode, once: state.tokenModeOnce });
      return;
    }
    case 'token-requests': {
      const list = state.tokenRequests.slice();
      if (bool(q.clear)) state.tokenRequests.length = 0;
      json(ctx, 200, list);
      return;
    }
    case 'refresh-rotate': {
      if (q.on !== undefined) state.refreshRotate = bool(q.on, true);
      json(ctx, 200, { rotate: state.refreshRotate });
      return;
    }
    case 'sessions': {
      const list = [];
      for (const [k, e] of store) {
        if (!k.startsWith('Session:') || e.exp <= Date.now() || !e.payload.accountId) continue;
        const s = sessionSummary(k.slice('Session:'.length), e.payload);
        const sid = hashSid(s.auth?.sid) ?? null;
        list.push({
          username: usersBySub.get(s.sub)?.username ?? null, sub: s.sub, sid, tokens_issued: sid ? state.issuedSids.has(sid) : false,
        });
      }
      json(ctx, 200, list);
      return;
    }
    case 'logout-all': {
      json(ctx, 200, await endSessions(() => true, 'logout-all'));
      return;
    }
    case 'end-session': {
      const user = usersByName.get(String(q.user ?? ''));
      if (!user) { json(ctx, 404, { error: `unknown user ${q.user ?? '(user= missing)'}` }); return; }
      json(ctx, 200, { user: user.username, ...await endSessions((s) => s.accountId === user.sub, 'end-session-user') });
      return;
    }
    case 'backchannel': {
      if (q.uri !== undefined) {
        const uri = String(q.uri);
        const why = uri ? backchannelUriProblem(uri) : null;
        if (why) { json(ctx, 400, { error: why }); return; }
        state.backchannelUri = uri;
      }
      json(ctx, 200, { uri: state.backchannelUri || null });
      return;
    }
    case 'backchannel-log': {
      const list = state.backchannelLog.slice();
      if (bool(q.clear)) state.backchannelLog.length = 0;
      json(ctx, 200, list);
      return;
    }
    case 'logout-token': {
      const user = usersByName.get(String(q.user ?? ''));
      if (!user) { json(ctx, 404, { error: `unknown user ${q.user ?? '(user= missing)'}` }); return; }
      let sid;
      if (q.sid !== undefined) {
        sid = q.sid === '' ? undefined : String(q.sid); // sid= (empty): a logout token without sid
      } else {
        for (const [h, v] of state.issuedSids) if (v.sub === user.sub) sid = h; // the latest
        if (!sid) { json(ctx, 404, { error: `no IdP session with tokens for ${user.username}; pass sid=` }); return; }
      }
      json(ctx, 200, makeLogoutToken({ sub: user.sub, sid }));
      return;
    }
    case 'rotate-key': {
      if (cfg.alg === 'HS256') { json(ctx, 400, { error: 'rotate-key needs IDP_SIGNING_ALG=RS256 or ES256' }); return; }
      const jwk = rotateKey();
      json(ctx, 200, { kid: jwk.kid, kids: privateJwks.map((k) => k.kid) });
      return;
    }
    case 'drop-old-keys': {
      if (cfg.alg === 'HS256') { json(ctx, 400, { error: 'drop-old-keys needs IDP_SIGNING_ALG=RS256 or ES256' }); return; }
      const dropped = dropOldKeys();
      json(ctx, 200, { kid: signingJwk.kid, kids: privateJwks.map((k) => k.kid), dropped });
      return;
    }
    case 'jwks-mode': {
      if (q.mode !== undefined) {
        if (!JWKS_MODES.has(q.mode)) { json(ctx, 400, { error: `unknown mode, one of ${[...JWKS_MODES].join(' ')}` }); return; }
        state.jwksMode = q.mode;
        state.jwksModeOnce = bool(q.once);
      }
      if (q.ms !== undefined) {
        try { state.jwksSlowMs = int(q.ms, cfg.jwksSlowMs); } catch (e) { json(ctx, 400, { error: e.message }); return; }
      }
      json(ctx, 200, { mode: state.jwksMode, once: state.jwksModeOnce, slow_ms: state.jwksSlowMs });
      return;
    }
    case 'jwks-requests': {
      const list = state.jwksRequests.slice();
      if (bool(q.clear)) state.jwksRequests.length = 0;
      json(ctx, 200, { count: list.length, requests: list });
      return;
    }
    default:
      json(ctx, 404, { error: 'unknown test endpoint' });
  }
}

handler = provider.callback();

// ---------------------------------------------------------------------------------------------
// ready
// ---------------------------------------------------------------------------------------------

// IDP_JWKS_OUT: the public JWKS (what /jwks/ serves in mode ok), rewritten atomically after a key
// rotation
function writeJwksOut() {
  if (!cfg.jwksOut) return;
  fs.mkdirSync(path.dirname(path.resolve(cfg.jwksOut)), { recursive: true });
  const tmp = `${cfg.jwksOut}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${JSON.stringify(publicJwks())}\n`);
  fs.renameSync(tmp, cfg.jwksOut);
}
writeJwksOut();

const ready = {
  ready: true,
  issuer,
  port,
  client_id: cfg.clientId,
  client_secret: cfg.clientSecret,
  users: users.map((u) => ({
    username: u.username, password: u.password, app_password: u.app_password, sub: u.sub,
  })),
  alg: cfg.alg,
  kid: signingJwk?.kid ?? null,
  origin,
  slug: cfg.slug,
  discovery: `${origin}${DISCOVERY}`,
  authorization_endpoint: `${origin}${ROUTES.authorization}`,
  token_endpoint: `${origin}${ROUTES.token}`,
  end_session_endpoint: `${origin}${ROUTES.end_session}`,
  jwks_uri: `${origin}${ROUTES.jwks}`,
  jwks_file: cfg.jwksOut || null,
  token_ttl: cfg.tokenTtl,
  refresh_ttl: cfg.refreshTtl,
  refresh_rotate: state.refreshRotate,
  token_mode: state.tokenMode,
  jwks_mode: state.jwksMode,
  backchannel_logout_uri: state.backchannelUri || null,
  pid: process.pid,
  startup_ms: Date.now() - STARTED,
};
const line = JSON.stringify(ready);
if (cfg.readyFile) {
  const tmp = `${cfg.readyFile}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, `${line}\n`);
  fs.renameSync(tmp, cfg.readyFile); // atomic: a watcher never sees half a line
}
process.stdout.write(`${line}\n`);

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  log(`${signal}: shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
