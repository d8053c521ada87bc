/**
 * The sandbox verifies signatures like Duo: requests signed by the official @duosecurity/duo_api
 * signer (sent the way that package sends them) are accepted, and every tampered part is rejected
 * with Duo's 401 codes.
 */
import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import { stringify } from 'node:querystring';
import * as duoSig from '@duosecurity/duo_api/lib/duo_sig';
import { authorizationHeader } from '../../src/duo';
import { startDuoSandbox, type DuoSandbox } from '../../src/sandbox';
import { rawRequest } from './helpers';

describe('Duo sandbox: signature verification', () => {
  let sandbox: DuoSandbox;
  let ikey: string;
  let skey: string;
  const now = () => new Date().toUTCString();

  before(async () => {
    sandbox = await startDuoSandbox({ seed: 7 });
    ({ integrationKey: ikey, secretKey: skey } = sandbox.account);
  });
  after(() => sandbox.stop());

  /** Sends like duo_api_nodejs's Client.apiCall: querystring on the wire, canonical form only in the signature. */
  async function officialCall(method: string, path: string, params: Record<string, string>, version: 2 | 5, host = sandbox.apiHost) {
    const date = now();
    const headers: Record<string, string> = { Date: date, Host: sandbox.apiHost, 'User-Agent': 'duo_api_nodejs/1.5.0' };
    const post = method === 'POST';
    let body = '';
    let url = path;
    if (version === 5) {
      if (post) body = JSON.stringify(params);
      headers['Authorization'] = duoSig.signV5(ikey, skey, method, host, path, post ? {} : params, date, body);
    } else {
      headers['Authorization'] = duoSig.sign(ikey, skey, method, host, path, params, date);
    }
    if (post) {
      headers['Content-Type'] = version === 5 ? 'application/json' : 'application/x-www-form-urlencoded';
      if (version === 2) body = stringify(params);
    } else if (Object.keys(params).length) {
      url += `?${stringify(params)}`;
    }
    return rawRequest(sandbox.apiHost, method, url, headers, body);
  }

  for (const version of [2, 5] as const) {
    it(`serves a client written by someone else: duo_api_nodejs signer, v${version}`, async () => {
      const username = `o'brien (v${version})! ünïcode*`;
      const created = await officialCall('POST', '/admin/v1/users', { username, realname: 'Séan O’Brien & co', notes: 'a+b=c' }, version);
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const user = created.body.response as { user_id: string; username: string; realname: string; notes: string };
      assert.equal(user.username, username);
      assert.equal(user.realname, 'Séan O’Brien & co');
      assert.equal(user.notes, 'a+b=c');

      const found = await officialCall('GET', '/admin/v1/users', { username: username.toUpperCase() }, version);
      assert.equal(found.status, 200, JSON.stringify(found.body));
      assert.deepEqual((found.body.response as Array<{ user_id: string }>).map((u) => u.user_id), [user.user_id]);

      const deleted = await officialCall('DELETE', `/admin/v1/users/${user.user_id}`, {}, version);
      assert.deepEqual([deleted.status, deleted.body.response], [200, '']);
    });
  }

  it('accepts the host signed without the port (as Python sends with port=)', async () => {
    const host = sandbox.apiHost.replace(/:\d+$/, '');
    const res = await officialCall('GET', '/admin/v1/users', { limit: '1' }, 2, host);
    assert.equal(res.status, 200);
  });

  it('verifies the signed host against its own API host, never against the Host header the request brings', async () => {
    const foreignHost = 'api-elsewhere.duosecurity.com';
    const date = now();
    const auth = authorizationHeader(ikey, 2, { date, method: 'GET', host: foreignHost, path: '/admin/v1/users', params: { limit: '1' } }, skey);
    const forged = await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users?limit=1', { Date: date, Authorization: auth, Host: foreignHost });
    assert.deepEqual([forged.status, forged.body.code], [401, 40103], 'a request signed for another host is rejected even with a matching Host header');
    const own = authorizationHeader(ikey, 2, { date, method: 'GET', host: sandbox.apiHost, path: '/admin/v1/users', params: { limit: '1' } }, skey);
    const proxied = await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users?limit=1', { Date: date, Authorization: own, Host: foreignHost });
    assert.equal(proxied.status, 200, 'a request signed for the sandbox is accepted whatever Host header a proxy put on it');
  });

  it('accepts legacy v2 HMAC-SHA1 signatures (third-party tools)', async () => {
    const date = now();
    const canon = [date, 'GET', sandbox.apiHost, '/admin/v1/users', 'limit=1'].join('\n');
    const sig = createHmac('sha1', skey).update(canon).digest('hex');
    const res = await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users?limit=1', { Date: date, Authorization: `Basic ${Buffer.from(`${ikey}:${sig}`).toString('base64')}` });
    assert.equal(res.status, 200);
  });

  it('prefers X-Duo-Date over Date when both are sent (C#/PowerShell clients)', async () => {
    const signedDate = now();
    const auth = authorizationHeader(ikey, 2, { date: signedDate, method: 'GET', host: sandbox.apiHost, path: '/admin/v1/users', params: {} }, skey);
    const res = await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', { 'X-Duo-Date': signedDate, Date: 'Mon, 01 Jan 2024 00:00:00 GMT', Authorization: auth });
    assert.equal(res.status, 200);
  });

  describe('rejections', () => {
    function signed(method: string, path: string, params: Record<string, string>, body = '', date = now()) {
      const v5 = method === 'POST';
      const auth = authorizationHeader(ikey, v5 ? 5 : 2, { date, method, host: sandbox.apiHost, path, params: v5 ? {} : params, body }, skey);
      const headers: Record<string, string> = { Date: date, Authorization: auth };
      if (v5) headers['Content-Type'] = 'application/json';
      return headers;
    }
    const expect401 = (res: { status: number; body: { stat?: string; code?: number } }, code: number) => {
      assert.equal(res.status, 401);
      assert.equal(res.body.stat, 'FAIL');
      assert.equal(res.body.code, code);
    };

    it('tampered path → 40103', async () => {
      const h = signed('GET', '/admin/v1/users', {});
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/groups', h), 40103);
    });

    it('tampered query parameter → 40103', async () => {
      const h = signed('GET', '/admin/v1/users', { limit: '1' });
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users?limit=2', h), 40103);
    });

    it('an extra query parameter → 40103', async () => {
      const h = signed('GET', '/admin/v1/users', { limit: '1' });
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users?limit=1&offset=0', h), 40103);
    });

    it('tampered JSON body → 40103, and nothing is created', async () => {
      const body = JSON.stringify({ username: 'tamper-target' });
      const h = signed('POST', '/admin/v1/users', {}, body);
      expect401(await rawRequest(sandbox.apiHost, 'POST', '/admin/v1/users', h, body.replace('target', 'victim')), 40103);
      assert.equal(sandbox.store.findUserIdByName('tamper-victim'), undefined);
    });

    it('tampered form body (v2) → 40103', async () => {
      const date = now();
      const auth = authorizationHeader(ikey, 2, { date, method: 'POST', host: sandbox.apiHost, path: '/admin/v1/groups', params: { name: 'g1' } }, skey);
      const res = await rawRequest(sandbox.apiHost, 'POST', '/admin/v1/groups', { Date: date, Authorization: auth, 'Content-Type': 'application/x-www-form-urlencoded' }, 'name=g2');
      expect401(res, 40103);
    });

    it('Date header changed after signing → 40103', async () => {
      const h = signed('GET', '/admin/v1/users', {});
      h['Date'] = new Date(Date.now() - 1000).toUTCString();
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', h), 40103);
    });

    it('wrong secret key → 40103', async () => {
      const date = now();
      const auth = authorizationHeader(ikey, 2, { date, method: 'GET', host: sandbox.apiHost, path: '/admin/v1/users', params: {} }, `${skey}x`);
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', { Date: date, Authorization: auth }), 40103);
    });

    it('unknown integration key → 40102', async () => {
      const date = now();
      const auth = authorizationHeader('DIUNKNOWN00000000000', 2, { date, method: 'GET', host: sandbox.apiHost, path: '/admin/v1/users', params: {} }, skey);
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', { Date: date, Authorization: auth }), 40102);
    });

    it('no credentials → 40101; no or unreadable date → 40104', async () => {
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', { Date: now() }), 40101);
      const h = signed('GET', '/admin/v1/users', {});
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', { Authorization: h['Authorization'] as string }), 40104);
      expect401(await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', { ...h, Date: 'Mi, 14 Feb 2024 10:00:00 GMT' }), 40104);
    });

    it('a correctly signed but stale date → 40105 (clock skew)', async () => {
      const h = signed('GET', '/admin/v1/users', {}, '', new Date(Date.now() - 3_600_000).toUTCString());
      const res = await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', h);
      expect401(res, 40105);
    });

    it('counts rejected requests as auth failures', async () => {
      sandbox.resetStats();
      await rawRequest(sandbox.apiHost, 'GET', '/admin/v1/users', { Date: now() });
      const stats = sandbox.stats();
      assert.equal(stats.authFailures, 1);
      assert.equal(stats.byEndpoint['GET /admin/v1/users'], 1);
      assert.equal(stats.byStatus['401'], 1);
    });
  });
});
