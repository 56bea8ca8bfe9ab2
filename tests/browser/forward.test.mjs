// Browser logins through the forward-auth endpoints: Debian Chromium logs in to the echo app
// behind Debian's caddy (forward_auth, nginx-conf/Caddyfile) and behind Debian's stock nginx
// without the module (auth_request, nginx-conf/auth-request-front.conf), with the module's
// nginx as their authentik outpost and the IdP of tests/idp.
//
//   AUTHENTIK_TEST_NGINX=<nginx> AUTHENTIK_TEST_MODULE=<module .so> npm test
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startEcho } from './echo-app.mjs';
import {
  echoHeaders, freePort, launchBrowser, nginxMain, nginxPaths, onLoginForm, root, serverDir,
  startIdp, startServer, submitLogin, TOKEN_LOCATION,
} from './harness.mjs';

nginxPaths();

const TIMEOUT = { timeout: 120000 };
const STOCK_NGINX = process.env.AUTHENTIK_TEST_STOCK_NGINX || '/usr/sbin/nginx';
const CADDY = process.env.AUTHENTIK_TEST_CADDY || '/usr/bin/caddy';
const APP_HOST = 'app.test';

const example = (name) => fs.readFileSync(path.join(root, 'nginx-conf', name), 'utf8');

/** The module's nginx as the outpost of a front proxy on `frontPort` (external_host there). */
async function startOutpost(idp, frontPort) {
  const { nginx, module } = nginxPaths();
  const dir = serverDir('outpost');
  const port = await freePort();
  const secret = path.join(dir, 'conf/cookie.secret');
  fs.writeFileSync(secret, crypto.randomBytes(32).toString('hex'), { mode: 0o600 });
  const conf = path.join(dir, 'conf/nginx.conf');
  fs.writeFileSync(conf, nginxMain(dir, `
    large_client_header_buffers 4 32k;
    authentik_provider app {
        issuer ${idp.issuer};
        client_id ${idp.client_id};
        client_secret ${idp.client_secret};
        cookie_secret_file ${secret};
        external_host http://${APP_HOST}:${frontPort};
        token_request /_authentik_token;
    }
    server {
        listen 127.0.0.1:${port};
        authentik app;
        location /outpost.goauthentik.io/ { }
        location / { return 404; }
${TOKEN_LOCATION(idp.port)}
    }`, { module }));
  const server = await startServer({
    name: 'outpost nginx', command: nginx, args: ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'logs/error.log')],
    port, host: APP_HOST, readyPath: '/outpost.goauthentik.io/ping', readyStatus: 204, dir,
  });
  server.errorLog = () => fs.readFileSync(path.join(dir, 'logs/error.log'), 'utf8');
  return server;
}

/** nginx-conf/Caddyfile on `port`, forward_auth to the outpost, the app at `echoPort`. */
async function startCaddy(port, outpostPort, echoPort) {
  const dir = serverDir('caddy');
  const site = example('Caddyfile')
    .replace('app.company {', `http://${APP_HOST}:${port} {\n\tbind 127.0.0.1`)
    .replace('10.0.0.5:9000', `127.0.0.1:${outpostPort}`)
    .replace('127.0.0.1:8080', `127.0.0.1:${echoPort}`);
  const file = path.join(dir, 'Caddyfile');
  fs.writeFileSync(file, `{\n\tadmin off\n\tauto_https off\n}\n${site}`);
  return startServer({
    name: 'caddy', command: CADDY, args: ['run', '--adapter', 'caddyfile', '--config', file],
    env: { HOME: dir, XDG_DATA_HOME: path.join(dir, 'data'), XDG_CONFIG_HOME: path.join(dir, 'config') },
    port, host: APP_HOST, readyPath: '/', readyStatus: 401, dir,
  });
}

/** nginx-conf/auth-request-front.conf in Debian's stock nginx on `port`, without TLS. */
async function startStockNginx(port, outpostPort, echoPort) {
  const dir = serverDir('stock-nginx');
  const site = example('auth-request-front.conf')
    .split('\n').filter((l) => !l.trim().startsWith('ssl_certificate')).join('\n')
    .replace('listen 443 ssl;', `listen 127.0.0.1:${port};`)
    .replace('port_in_redirect off;', 'port_in_redirect on;')
    .replace('10.0.0.5:9000', `127.0.0.1:${outpostPort}`)
    .replace('127.0.0.1:8080', `127.0.0.1:${echoPort}`)
    .replace('server_name app.company;', `server_name ${APP_HOST};`);
  const conf = path.join(dir, 'conf/nginx.conf');
  fs.writeFileSync(conf, nginxMain(dir, site));
  return startServer({
    name: 'stock nginx', command: STOCK_NGINX, args: ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'logs/error.log')],
    port, host: APP_HOST, readyPath: '/outpost.goauthentik.io/ping', readyStatus: 204, dir,
  });
}

for (const [front, start] of [['caddy (forward_auth)', startCaddy], ['stock nginx (auth_request)', startStockNginx]]) {
  describe(`login behind ${front}`, () => {
    const stack = {};
    before(async () => {
      stack.idp = await startIdp();
      stack.echo = await startEcho({ port: 0 });
      stack.port = await freePort();
      stack.outpost = await startOutpost(stack.idp, stack.port);
      stack.front = await start(stack.port, stack.outpost.port, stack.echo.port);
      stack.app = `http://${APP_HOST}:${stack.port}`;
    }, TIMEOUT);
    after(async () => {
      for (const part of ['front', 'outpost']) await stack[part]?.stop().catch(() => {});
      await stack.echo?.close().catch(() => {});
      await stack.idp?.stop().catch(() => {});
    }, TIMEOUT);

    test('start, IdP, callback, app with the identity headers; sign-out', TIMEOUT, async () => {
      const b = await launchBrowser(stack);
      try {
        const url = `${stack.app}/some/page?x=1`;
        await b.page.goto(url);
        assert.ok(b.page.url().startsWith(`${stack.idp.origin}/interaction/`), `on ${b.page.url()}`);
        assert.ok(await onLoginForm(b.page));
        await submitLogin(b.page, 'akadmin', 'akadmin-password');
        assert.equal(b.page.url(), url, 'back on the URL first asked for');
        const h = await echoHeaders(b.page);
        assert.equal(h.get('X-authentik-username'), 'akadmin', h.text);
        assert.equal(h.get('X-authentik-groups'), 'authentik Admins|users');
        assert.equal(h.get('X-authentik-email'), 'akadmin@example.test');
        assert.match(h.get('X-authentik-uid') || '', /^[0-9a-f]{64}$/);
        assert.equal(h.get('X-authentik-entitlements'), 'app-admin');
        assert.ok(stack.idp.requests.some((r) => r.startsWith('POST /application/o/token/ -> 200')),
          `the outpost exchanged the code: ${stack.idp.requests.join('\n')}`);
        // Logged in: a second page needs no IdP.
        const before = b.idpRequests.length;
        await b.page.goto(`${stack.app}/other`);
        assert.equal((await echoHeaders(b.page)).get('X-authentik-username'), 'akadmin');
        assert.equal(b.idpRequests.length, before, 'no IdP request for a logged-in page');
        // Sign-out through the front proxy: the session cookie goes, the IdP ends its session.
        await b.page.goto(`${stack.app}/outpost.goauthentik.io/sign_out`);
        await b.page.goto(`${stack.app}/again`);
        assert.ok(await onLoginForm(b.page), `after sign-out: ${b.page.url()}`);
        assert.deepEqual(b.blocked, [], 'the browser tried to reach a non-loopback host');
      } catch (e) {
        let log = '';
        try { log = stack.outpost.errorLog().split('\n').filter((l) => /authentik: |\[(error|crit|alert|emerg)\]/.test(l)).slice(-15).join('\n'); } catch { /* gone */ }
        console.error(`--- outpost error.log:\n${log}\n--- ${front} stderr:\n${stack.front?.stderr().slice(-3000)}\n--- IdP:\n${stack.idp.requests.slice(-15).join('\n')}`);
        throw e;
      } finally {
        await b.close();
      }
    });
  });
}
