import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

// src/domain is bundled into workflows: it must stay deterministic and I/O-free.
const DOMAIN = join(__dirname, '..', '..', 'src', 'domain');
// Pure, deterministic libraries the domain may use besides zod: libphonenumber-js parses phone numbers from bundled metadata, without I/O.
const PURE_LIBRARIES = new Set(['zod', 'libphonenumber-js/max']);

describe('domain/purity', () => {
  const files = readdirSync(DOMAIN).filter((f) => f.endsWith('.ts'));

  it('finds the domain modules', () => {
    assert.ok(files.length >= 8, files.join(', '));
  });

  for (const file of files) {
    it(`${file} imports only zod, pure libraries and sibling modules, and uses no clock, randomness or process state`, () => {
      const source = readFileSync(join(DOMAIN, file), 'utf8');
      const imports = [...source.matchAll(/\bfrom\s+'([^']+)'/g)].map((m) => m[1]);
      for (const spec of imports) assert.ok(PURE_LIBRARIES.has(spec ?? '') || /^\.\/[a-z-]+$/.test(spec ?? ''), `${file} imports ${spec}`);
      assert.doesNotMatch(source, /\brequire\(|\bimport\(/, `${file} loads modules dynamically`);
      assert.doesNotMatch(source, /\bDate\.now\(|\bnew Date\(|\bMath\.random\(|\bprocess\.|\bBuffer\b|\bsetTimeout\(|\bsetInterval\(/, `${file} is not deterministic`);
    });
  }
});
