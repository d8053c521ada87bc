/**
 * The signer against Duo's published test vectors and against the official `@duosecurity/duo_api`
 * package on many generated requests (non-ASCII, reserved characters, whitespace, repeated prefixes).
 */
import { strict as assert } from 'node:assert';
import { createHmac } from 'node:crypto';
import * as duoSig from '@duosecurity/duo_api/lib/duo_sig';
import { authorizationHeader, canonicalizeParams, canonicalString, EMPTY_SHA512, encodeDuoComponent, hashDuoHeaders, sha512Hex, signatureHex } from '../../src/duo';
import { seededRandom, type Random } from '../../src/sandbox';

const DATE = 'Tue, 21 Aug 2012 17:29:18 -0000';

describe('Duo request signing', () => {
  describe('published vectors', () => {
    it('v2 HMAC-SHA512 (duo_api_nodejs "V2 signature")', () => {
      const req = { date: DATE, method: 'POST', host: 'test.duosecurity.com', path: '/test/v1', params: { realname: 'First Last', username: 'root' } };
      assert.equal(canonicalString(2, req), `${DATE}\nPOST\ntest.duosecurity.com\n/test/v1\nrealname=First%20Last&username=root`);
      assert.equal(
        authorizationHeader('test_ikey', 2, req, 'test_skey'),
        'Basic dGVzdF9pa2V5OjA0MmEzMGM2ODJiZDgzNmZjNWJhNDY3ODkxYTk1NmVhYTEwMDkxY2EwZjczYTdmYjM5NmFlZmQ1NmEzNTI5ZTU2OTMyZGVhNDI3YTY3MjEzYWY2NjRiYTY4NDE2ODlmZjIzMzZiN2EzNzM3NjZlYTVhYjdhYjlmZTI2MzgyMjZi',
      );
    });

    it('v5 with a JSON body (duo_api_nodejs "V5 signature")', () => {
      const body = '{"realname":"First Last","username":"root"}';
      const req = { date: DATE, method: 'POST', host: 'test.duosecurity.com', path: '/test/v1', params: {}, body };
      assert.equal(sha512Hex(body), '90a87eddaf3152f88132bc650b48eba1d1a1853a780c072303cec3d4f85631a0c5ef03d8c14d805af3212b4e5b7c82420970fc2e380ad91e1283028e7c476150');
      assert.equal(signatureHex(5, req, 'test_skey'), '7d02409a152764843cccd8284da153b3fb446baad5f998886325e24bc9cd4a244de85ad4bfa7ea285d68209f160835673d8b4f1e1b23d9cd521d26bfe7f366a4');
    });

    it("Duo's documentation example: host is lower-cased, SHA-512 and legacy SHA-1", () => {
      const req = { date: DATE, method: 'POST', host: 'api-XXXXXXXX.duosecurity.com', path: '/accounts/v1/account/list', params: { realname: 'First Last', username: 'root' } };
      const skey = 'Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep';
      assert.equal(signatureHex(2, req, skey), '1bffb8924348f7db7da9e7d7d749ded93aafd02d8e904960da7b96c57510220185a64a2827ee8f24ac5d30802a9ee97e59de44b304b18242f0d596d15a8122af');
      assert.equal(signatureHex(2, req, skey, 'sha1'), '2d97d6166319781b5a3a07af39d366f491234edc');
    });

    it('v5 with query parameters and a body (duo_api_golang TestSignV5)', () => {
      const req = {
        date: DATE,
        method: 'POST',
        host: 'api-XXXXXXXX.duosecurity.com',
        path: '/accounts/v1/account/list',
        params: { realname: 'First Last' },
        body: '{"txid":"f22b1678-252a-4070-b176-0ca2be7319fd"}',
      };
      assert.equal(
        signatureHex(5, req, 'Zh5eGmUq9zpfQnyUIu5OL9iWoMMv5ZNmk3zLJ4Ep'),
        '78f4327f831173cc78d0907e913e3c5a28fe72dd4545a342586bb67181f2ba393d20911e870362f6faba3dc6f7e9db5e93aed2f3bfc110c6dadaff4dc6179e0b',
      );
    });

    it('hashes x-duo-* headers by lower-cased name, ignoring other headers', () => {
      const expected = '630b4bfe7e9abd03da2eee8f0a5d4e60a254ec880a839bcc2223bb5b9443e8ef24d58f0254f1f5934bf8c017ebd0fd5b1acf86766bdbe74185e712a4092df3ed';
      assert.equal(hashDuoHeaders({ 'X-Duo-Header-1': 'header_value_1', 'Content-Type': 'text/plain' }), expected);
      assert.equal(hashDuoHeaders({}), EMPTY_SHA512);
    });
  });

  describe('canonical parameters', () => {
    it('encodes every reserved printable character like Python quote(s, "~")', () => {
      assert.equal(
        encodeDuoComponent(' !"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~'),
        '%20%21%22%23%24%25%26%27%28%29%2A%2B%2C-.%2F%3A%3B%3C%3D%3E%3F%40%5B%5C%5D%5E_%60%7B%7C%7D~',
      );
      assert.equal(encodeDuoComponent('\t\n\x0b\x0c\r '), '%09%0A%0B%0C%0D%20');
      assert.equal(encodeDuoComponent('é中😀'), '%C3%A9%E4%B8%AD%F0%9F%98%80');
    });

    it('sorts by key before joining, so a key that prefixes another comes first', () => {
      assert.equal(canonicalizeParams({ foo_bar: '2', foo: '1' }), 'foo=1&foo_bar=2');
      assert.equal(canonicalizeParams({ 'a-b': 'x', a: 'y', a1: 'z' }), 'a=y&a-b=x&a1=z');
      assert.equal(canonicalizeParams({ k: ['b', 'a'] }), 'k=a&k=b');
      assert.equal(canonicalizeParams({}), '');
    });

    it('rejects an unpaired surrogate with a readable error instead of signing garbage', () => {
      assert.throws(() => encodeDuoComponent('bad\ud800'), /invalid Unicode/);
    });
  });

  describe('agreement with the official @duosecurity/duo_api signer', () => {
    const pool = ['a', 'Z', '0', ' ', '+', '&', '=', '%', '/', '?', '#', '!', "'", '(', ')', '*', '~', '-', '.', '_', '"', '\n', '\t', 'é', 'ß', 'ü', '中', '文', '😀', 'Ω', '\u00a0', '@', ':', ';', ','];
    const keyPool = 'abcdefghijklmnopqrstuvwxyz0123456789_';
    const pick = (r: Random, s: string | string[]): string => {
      const arr = typeof s === 'string' ? [...s] : s;
      return arr[Math.floor(r() * arr.length)] as string;
    };
    const text = (r: Random, p: string | string[], max: number): string => Array.from({ length: 1 + Math.floor(r() * max) }, () => pick(r, p)).join('');

    function generated(count: number): Array<{ method: string; host: string; path: string; params: Record<string, string>; skey: string }> {
      const r = seededRandom(20240601);
      return Array.from({ length: count }, () => {
        const params: Record<string, string> = {};
        const n = Math.floor(r() * 6);
        for (let i = 0; i < n; i++) params[text(r, keyPool, 10)] = text(r, pool, 16);
        return {
          method: pick(r, ['GET', 'POST', 'DELETE', 'post']),
          host: pick(r, ['API-ABCDEF12.duosecurity.com', '127.0.0.1:43127', 'localhost:8443']),
          path: pick(r, ['/admin/v1/users', '/admin/v1/users/DU0123456789ABCDEFGH/groups', '/admin/v2/groups/DGX']),
          params,
          skey: text(r, [...keyPool.toUpperCase(), ...keyPool], 40),
        };
      });
    }

    it('v2 signatures match on 500 generated requests', () => {
      for (const g of generated(500)) {
        const ours = authorizationHeader('DIWJ8X6AEYOR5OMC6TQ1', 2, { date: DATE, ...g }, g.skey);
        const theirs = duoSig.sign('DIWJ8X6AEYOR5OMC6TQ1', g.skey, g.method, g.host, g.path, g.params, DATE);
        assert.equal(ours, theirs, `params ${JSON.stringify(g.params)}`);
      }
    });

    it('v5 signatures match on 500 generated requests (JSON body for POST, query otherwise)', () => {
      for (const g of generated(500)) {
        const post = g.method.toUpperCase() === 'POST';
        const body = post ? JSON.stringify(g.params) : '';
        const params = post ? {} : g.params;
        const ours = authorizationHeader('DIWJ8X6AEYOR5OMC6TQ1', 5, { date: DATE, ...g, params, body }, g.skey);
        const theirs = duoSig.signV5('DIWJ8X6AEYOR5OMC6TQ1', g.skey, g.method, g.host, g.path, params, DATE, body);
        assert.equal(ours, theirs, `params ${JSON.stringify(g.params)}`);
      }
    });

    it('canonical parameter strings match the official _canonParams', () => {
      for (const g of generated(300)) assert.equal(canonicalizeParams(g.params), duoSig._canonParams(g.params));
    });

    it('keys the HMAC with the UTF-8 bytes of a non-ASCII secret key', () => {
      const req = { date: DATE, method: 'GET', host: 'h', path: '/p', params: { a: 'ü' } };
      const expected = createHmac('sha512', Buffer.from('sëcret', 'utf8')).update(canonicalString(2, req)).digest('hex');
      assert.equal(signatureHex(2, req, 'sëcret'), expected);
      const theirs = Buffer.from(duoSig.sign('i', 'sëcret', 'GET', 'h', '/p', { a: 'ü' }, DATE).slice('Basic '.length), 'base64').toString('utf8').split(':')[1];
      assert.equal(theirs, expected);
    });
  });
});
