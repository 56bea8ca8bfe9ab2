// Harness for the browser tests: starts the authentik-shaped IdP (tests/idp), the echo app and
// nginx with the module on free loopback ports, and drives Debian's Chromium with
// playwright-core in a fresh profile that can reach loopback only.
//
// nginx and the module come from AUTHENTIK_TEST_NGINX and AUTHENTIK_TEST_MODULE (absolute paths),
// as for the Rust integration tests. Every process started here is killed by stop(), and by an
// exit hook if a test run dies half way.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startEcho } from './echo-app.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '../..');
const IDP_SCRIPT = path.join(root, 'tests/idp/authentik-idp.mjs');
export const CHROMIUM = process.env.AUTHENTIK_TEST_CHROMIUM || '/usr/bin/chromium';

// Host names the browser resolves to 127.0.0.1 (--host-resolver-rules) and that the IdP accepts
// in redirect URIs (*.test).
export const SINGLE_HOST = 'app.test';
export const DOMAIN = 'company.test';
export const APP1_HOST = `app1.${DOMAIN}`;
export const APP2_HOST = `app2.${DOMAIN}`;
export const AUTH_HOST = `auth.${DOMAIN}`;

// ---------------------------------------------------------------------------------------------
// bookkeeping: every child process, so nothing outlives the test run
// ---------------------------------------------------------------------------------------------

const children = new Set();
process.on('exit', () => {
  for (const c of children) {
    try { process.kill(c.group ? -c.pid : c.pid, 'SIGKILL'); } catch { /* already gone */ }
  }
});

function track(child, group) {
  const entry = { pid: child.pid, group };
  children.add(entry);
  child.once('exit', () => children.delete(entry));
}

const exited = (child) => (child.exitCode !== null || child.signalCode !== null
  ? Promise.resolve()
  : new Promise((r) => child.once('exit', () => r())));

async function withTimeout(promise, ms, what) {
  let timer;
  const t = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms); });
  try { return await Promise.race([promise, t]); } finally { clearTimeout(timer); }
}

export function nginxPaths() {
  const nginx = process.env.AUTHENTIK_TEST_NGINX;
  const module = process.env.AUTHENTIK_TEST_MODULE;
  const missing = [];
  if (!nginx) missing.push('AUTHENTIK_TEST_NGINX (the nginx binary)');
  if (!module) missing.push('AUTHENTIK_TEST_MODULE (the module .so)');
  if (missing.length) {
    throw new Error(`set ${missing.join(' and ')}; e.g. from the last two lines of scripts/build vendored:\n`
      + '  AUTHENTIK_TEST_NGINX=<nginx=…> AUTHENTIK_TEST_MODULE=<module=…> npm test');
  }
  for (const [name, p] of [['AUTHENTIK_TEST_NGINX', nginx], ['AUTHENTIK_TEST_MODULE', module]]) {
    if (!path.isAbsolute(p)) throw new Error(`${name} must be an absolute path, got ${p}`);
    if (!fs.existsSync(p)) throw new Error(`${name}=${p} does not exist`);
  }
  return { nginx, module };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// IdP
// ---------------------------------------------------------------------------------------------

/**
 * Start tests/idp/authentik-idp.mjs on a free port with request logging on. Resolves once its
 * ready line has been read. `requests` holds one entry per HTTP request it served
 * ("GET /path -> 200"), from browsers and from nginx alike.
 */
export async function startIdp(env = {}) {
  if (!fs.existsSync(path.join(root, 'tests/idp/node_modules/oidc-provider'))) {
    throw new Error('tests/idp has no node_modules: run `npm ci` in tests/idp first');
  }
  const child = spawn(process.execPath, [IDP_SCRIPT], {
    cwd: path.dirname(IDP_SCRIPT),
    env: { ...process.env, IDP_PORT: '0', IDP_HOST: '127.0.0.1', IDP_LOG: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child, false);
  const idp = { child, pid: child.pid, requests: [], stderr: [] };
  readline.createInterface({ input: child.stderr }).on('line', (line) => {
    const m = /^\[idp\] ([A-Z]+ \S+ -> \d+)/.exec(line);
    if (m) idp.requests.push(m[1]);
    else idp.stderr.push(line);
  });
  const ready = await withTimeout(new Promise((resolve, reject) => {
    const rl = readline.createInterface({ input: child.stdout });
    rl.on('line', (line) => {
      try {
        const j = JSON.parse(line);
        if (j.ready) resolve(j);
      } catch { /* not the ready line */ }
    });
    child.once('exit', (code, sig) => reject(new Error(`IdP exited (${code ?? sig}) before it was ready:\n${idp.stderr.join('\n')}`)));
  }), 30000, 'IdP ready line');
  Object.assign(idp, ready, {
    origin: `http://127.0.0.1:${ready.port}`,
    userPassword: (name) => ready.users.find((u) => u.username === name).password,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await withTimeout(exited(child), 10000, 'IdP exit');
    },
    stop() { return idp.kill('SIGTERM'); },
  });
  return idp;
}

// ---------------------------------------------------------------------------------------------
// nginx
// ---------------------------------------------------------------------------------------------

const TOKEN_LOCATION = (idpPort) => `
        location = /_authentik_token {
            internal;
            proxy_method POST;
            proxy_pass_request_headers off;
            proxy_set_header Content-Type application/x-www-form-urlencoded;
            proxy_set_body $authentik_token_request_body;
            subrequest_output_buffer_size 64k;
            proxy_pass http://127.0.0.1:${idpPort}/application/o/token/;
        }`;

/**
 * The nginx configuration of the browser tests: one port, four name-based servers.
 *  - app.test: single mode, provider `app`;
 *  - app1/app2/auth.company.test: domain mode, provider `domain` (cookie_domain company.test,
 *    external_host http://auth.company.test:PORT); app2 has /admin/ limited to "authentik Admins".
 */
export function nginxConf({ prefix, module, port, idp, echoPort, secretFile, appExtra = '' }) {
  const proxy = `proxy_pass http://127.0.0.1:${echoPort};`;
  const provider = (name, extra) => `
    authentik_provider ${name} {
        issuer ${idp.issuer};
        client_id ${idp.client_id};
        client_secret ${idp.client_secret};
        cookie_secret_file ${secretFile};
        token_request /_authentik_token;
${extra}
    }`;
  return `load_module ${module};
daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/logs/nginx.pid;
lock_file ${prefix}/logs/nginx.lock;
error_log ${prefix}/logs/error.log info;
events { worker_connections 512; }
http {
    access_log ${prefix}/logs/access.log;
    client_body_temp_path ${prefix}/temp/client_body;
    proxy_temp_path ${prefix}/temp/proxy;
    fastcgi_temp_path ${prefix}/temp/fastcgi;
    uwsgi_temp_path ${prefix}/temp/uwsgi;
    scgi_temp_path ${prefix}/temp/scgi;
    large_client_header_buffers 4 32k;
    proxy_buffer_size 32k;
    proxy_buffers 8 32k;
${provider('app', `        external_host http://${SINGLE_HOST}:${port};
        ${appExtra}`)}
${provider('domain', `        mode domain;
        cookie_domain ${DOMAIN};
        external_host http://${AUTH_HOST}:${port};`)}

    server {
        listen 127.0.0.1:${port};
        server_name ${SINGLE_HOST};
        authentik app;
        location / { ${proxy} }
${TOKEN_LOCATION(idp.port)}
    }
    server {
        listen 127.0.0.1:${port};
        server_name ${APP1_HOST};
        authentik domain;
        location / { ${proxy} }
${TOKEN_LOCATION(idp.port)}
    }
    server {
        listen 127.0.0.1:${port};
        server_name ${APP2_HOST};
        authentik domain;
        location / { ${proxy} }
        location /admin/ { authentik_require_group "authentik Admins"; ${proxy} }
${TOKEN_LOCATION(idp.port)}
    }
    server {
        listen 127.0.0.1:${port};
        server_name ${AUTH_HOST};
        authentik domain;
        location / { ${proxy} }
${TOKEN_LOCATION(idp.port)}
    }
}
`;
}

function httpStatus(port, host, urlPath) {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    let data = '';
    sock.setTimeout(2000, () => { sock.destroy(); resolve(0); });
    sock.on('error', () => resolve(0));
    sock.on('connect', () => sock.write(`GET ${urlPath} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`));
    sock.on('data', (d) => { data += d; });
    sock.on('end', () => resolve(Number(/^HTTP\/1\.\d (\d{3})/.exec(data)?.[1] || 0)));
  });
}

/** Start nginx with nginxConf() and wait until /outpost.goauthentik.io/ping answers 204. */
export async function startNginx({ idp, echoPort, appExtra = '' }) {
  const { nginx, module } = nginxPaths();
  let lastError;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'authentik-browser-nginx-'));
    fs.chmodSync(prefix, 0o755); // workers run as nobody
    for (const d of ['conf', 'logs', 'temp']) fs.mkdirSync(path.join(prefix, d), { mode: 0o755 });
    const secretFile = path.join(prefix, 'conf/cookie.secret');
    fs.writeFileSync(secretFile, crypto.randomBytes(32).toString('hex'), { mode: 0o600 }); // read by the master at load
    const port = await freePort();
    const confFile = path.join(prefix, 'conf/nginx.conf');
    fs.writeFileSync(confFile, nginxConf({ prefix, module, port, idp, echoPort, secretFile, appExtra }));
    const env = { ...process.env };
    delete env.NGINX; // nginx reads it as inherited sockets
    const child = spawn(nginx, ['-p', `${prefix}/`, '-c', confFile, '-e', path.join(prefix, 'logs/error.log')], {
      env, stdio: ['ignore', 'ignore', 'pipe'], detached: true, // own process group: master + workers
    });
    track(child, true);
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const deadline = Date.now() + 15000;
    let status = 0;
    while (Date.now() < deadline && child.exitCode === null) {
      status = await httpStatus(port, SINGLE_HOST, '/outpost.goauthentik.io/ping');
      if (status === 204) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    if (status === 204) {
      const ng = {
        child, pid: child.pid, prefix, port, confFile,
        errorLog: () => fs.readFileSync(path.join(prefix, 'logs/error.log'), 'utf8'),
        accessLog: () => fs.readFileSync(path.join(prefix, 'logs/access.log'), 'utf8'),
        async stop() {
          if (child.exitCode === null && child.signalCode === null) {
            try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
            try {
              await withTimeout(exited(child), 5000, 'nginx exit');
            } catch {
              try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
              await exited(child);
            }
          }
          // workers may outlive a killed master by a moment; the group id is ours
          try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
          if (!process.env.AUTHENTIK_TEST_KEEP) fs.rmSync(prefix, { recursive: true, force: true });
        },
      };
      return ng;
    }
    lastError = `nginx did not answer /outpost.goauthentik.io/ping with 204 (last status ${status}); stderr:\n${stderr}\n`
      + `error.log:\n${fs.existsSync(path.join(prefix, 'logs/error.log')) ? fs.readFileSync(path.join(prefix, 'logs/error.log'), 'utf8').slice(-3000) : ''}`;
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
    await exited(child);
    fs.rmSync(prefix, { recursive: true, force: true });
    if (!/Address already in use/.test(stderr + lastError)) break;
  }
  throw new Error(lastError);
}

// ---------------------------------------------------------------------------------------------
// the whole stack
// ---------------------------------------------------------------------------------------------

/** IdP + echo app + nginx. `idpEnv` adds IDP_* variables, `appExtra` settings of provider `app`. */
export async function startStack({ idpEnv = {}, appExtra = '' } = {}) {
  nginxPaths(); // fail fast and clearly
  const stack = { stopped: false };
  const parts = [];
  try {
    stack.idp = await startIdp(idpEnv);
    parts.push(stack.idp);
    stack.echo = await startEcho({ port: 0 });
    parts.push(stack.echo);
    stack.nginx = await startNginx({ idp: stack.idp, echoPort: stack.echo.port, appExtra });
    parts.push(stack.nginx);
  } catch (e) {
    for (const p of parts.reverse()) await (p.stop ? p.stop() : p.close()).catch(() => {});
    throw e;
  }
  const port = stack.nginx.port;
  Object.assign(stack, {
    port,
    app: `http://${SINGLE_HOST}:${port}`,
    app1: `http://${APP1_HOST}:${port}`,
    app2: `http://${APP2_HOST}:${port}`,
    auth: `http://${AUTH_HOST}:${port}`,
    async stop() {
      if (stack.stopped) return;
      stack.stopped = true;
      await stack.nginx.stop().catch(() => {});
      await stack.echo.close().catch(() => {});
      await stack.idp.stop().catch(() => {});
    },
  });
  return stack;
}

/** GET the IdP's test-control endpoint /-/test/<what> and return its JSON. */
export async function idpAdmin(stack, what) {
  const r = await fetch(`${stack.idp.origin}/-/test/${what}`);
  if (r.status !== 200) throw new Error(`IdP /-/test/${what}: ${r.status} ${await r.text()}`);
  return r.json();
}

// ---------------------------------------------------------------------------------------------
// browser
// ---------------------------------------------------------------------------------------------

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--disable-features=HttpsUpgrades,HttpsFirstBalancedModeAutoEnable',
  `--host-resolver-rules=MAP *.test 127.0.0.1`,
];

const LOOPBACK_HOST = /^(127(?:\.\d{1,3}){3}|\[::1\]|localhost|(?:[a-z0-9-]+\.)*(?:localhost|test))$/i;

/**
 * A fresh Chromium profile. Any request to a host other than loopback / *.test is aborted and
 * recorded in `blocked`. `idpRequests` lists every request the browser sent to the IdP's port.
 */
export async function launchBrowser(stack) {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium (or scripts/setup)`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'authentik-browser-profile-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
  const b = { context, dir, blocked: [], idpRequests: [], requests: [] };
  await context.route('**/*', (route) => {
    let host = '';
    try { host = new URL(route.request().url()).hostname; } catch { /* data: etc. */ }
    if (LOOPBACK_HOST.test(host)) return route.continue();
    b.blocked.push(route.request().url());
    return route.abort('blockedbyclient');
  });
  const idpPort = String(stack.idp.port);
  context.on('request', (req) => {
    b.requests.push(req.url());
    try {
      const u = new URL(req.url());
      if (u.port === idpPort) b.idpRequests.push(`${req.method()} ${u.pathname}`);
    } catch { /* ignore */ }
  });
  b.page = context.pages()[0] || await context.newPage();
  b.close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return b;
}

// ---------------------------------------------------------------------------------------------
// page helpers
// ---------------------------------------------------------------------------------------------

/** Wait for the IdP's login form, fill it in and submit; resolves after the page navigated away. */
export async function submitLogin(page, username, password) {
  await page.waitForSelector('#username', { timeout: 20000 });
  await page.fill('#username', username);
  await page.fill('#password', password);
  await Promise.all([
    page.waitForURL((u) => !u.pathname.startsWith('/interaction/'), { timeout: 20000 }),
    page.click('#login-submit'),
  ]);
  await page.waitForLoadState('load');
}

/** True when the page shows the IdP's login form. */
export async function onLoginForm(page) {
  return (await page.locator('#username').count()) === 1 && (await page.locator('#login-submit').count()) === 1;
}

/** The echo app's header list: { lines: ['Name: value', …], get(name) → value (case-insensitive) }. */
export async function echoHeaders(page) {
  const text = await page.locator('#headers').textContent({ timeout: 10000 });
  const lines = text.split('\n').filter(Boolean);
  const map = new Map();
  for (const l of lines) {
    const i = l.indexOf(': ');
    if (i > 0) map.set(l.slice(0, i).toLowerCase(), l.slice(i + 2));
  }
  return { text, lines, get: (name) => map.get(name.toLowerCase()) };
}

/** The session cookies of the browser (NAME, NAME_1, …) whose name starts with the default prefix. */
export async function sessionCookies(context) {
  return (await context.cookies()).filter((c) => /^authentik_nginx_[0-9a-f]{8}(_\d+)?$/.test(c.name));
}

// ---------------------------------------------------------------------------------------------
// other servers (the forward-auth tests: the module's nginx as an outpost, caddy, stock nginx)
// ---------------------------------------------------------------------------------------------

/**
 * Spawn `command args` in its own process group (killed by stop() and by the exit hook) and
 * wait until GET `readyPath` with Host `host` on 127.0.0.1:`port` answers `readyStatus`.
 * `dir` is removed by stop() unless AUTHENTIK_TEST_KEEP is set.
 */
export async function startServer({ name, command, args, env = {}, port, host, readyPath, readyStatus, dir }) {
  const fullEnv = { ...process.env, ...env };
  delete fullEnv.NGINX; // nginx reads it as inherited sockets
  const child = spawn(command, args, { env: fullEnv, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  track(child, true);
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const deadline = Date.now() + 15000;
  let status = 0;
  while (Date.now() < deadline && child.exitCode === null) {
    status = await httpStatus(port, host, readyPath);
    if (status === readyStatus) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
      try {
        await withTimeout(exited(child), 5000, `${name} exit`);
      } catch {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
        await exited(child);
      }
    }
    try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ }
  };
  if (status !== readyStatus) {
    await kill();
    throw new Error(`${name} did not answer ${readyPath} with ${readyStatus} (last status ${status}); stderr:\n${stderr}`);
  }
  return {
    name, port, pid: child.pid, stderr: () => stderr,
    async stop() {
      await kill();
      if (dir && !process.env.AUTHENTIK_TEST_KEEP) fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh directory for a server's files (mode 755: nginx workers run as nobody). */
export function serverDir(label) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `authentik-browser-${label}-`));
  fs.chmodSync(dir, 0o755);
  for (const d of ['conf', 'logs', 'temp']) fs.mkdirSync(path.join(dir, d), { mode: 0o755 });
  return dir;
}

/** main-context and http-context lines of an nginx whose prefix is `dir`. */
export function nginxMain(dir, http, { module } = {}) {
  return `${module ? `load_module ${module};\n` : ''}daemon off;
master_process on;
worker_processes 1;
pid ${dir}/logs/nginx.pid;
lock_file ${dir}/logs/nginx.lock;
error_log ${dir}/logs/error.log info;
events { worker_connections 512; }
http {
    access_log ${dir}/logs/access.log;
    client_body_temp_path ${dir}/temp/client_body;
    proxy_temp_path ${dir}/temp/proxy;
    fastcgi_temp_path ${dir}/temp/fastcgi;
    uwsgi_temp_path ${dir}/temp/uwsgi;
    scgi_temp_path ${dir}/temp/scgi;
${http}
}
`;
}

export { TOKEN_LOCATION };
