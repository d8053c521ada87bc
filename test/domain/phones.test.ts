/**
 * Reading directory phone numbers into E.164 plus extension (src/domain/phones.ts, on
 * libphonenumber-js): national formats with the rule's region, trunk prefixes, extensions, RFC 3966
 * `tel:` URIs, and the numbers that must fail rather than come out silently wrong.
 */
import assert from 'node:assert/strict';
import { duoPhoneKey, PhoneRegionSchema, readPhone } from '../../src/domain/phones';

function reads(raw: string, region?: string): { number: string; extension?: string } {
  const r = readPhone(raw, region);
  if (!r.ok) assert.fail(`expected ${JSON.stringify(raw)} (${region ?? 'no region'}) to read, got: ${r.reason}`);
  return { number: r.number, ...(r.extension !== undefined ? { extension: r.extension } : {}) };
}

function refuses(raw: string, region?: string): string {
  const r = readPhone(raw, region);
  if (r.ok) assert.fail(`expected ${JSON.stringify(raw)} (${region ?? 'no region'}) to fail, got ${r.number}`);
  return r.reason;
}

describe('domain/phones', () => {
  it('reads national formats with the rule region, dropping the trunk prefix', () => {
    assert.deepEqual(reads('020 7930 1110', 'GB'), { number: '+442079301110' });
    assert.deepEqual(reads('07700 900123', 'GB'), { number: '+447700900123' });
    assert.deepEqual(reads('(030) 90090333', 'DE'), { number: '+493090090333' });
    assert.deepEqual(reads('(415) 555-0132', 'US'), { number: '+14155550132' });
    assert.deepEqual(reads('0049 30 90090333', 'GB'), { number: '+493090090333' }, "the region's international prefix");
  });

  it('drops a trunk prefix written in parentheses in an international number', () => {
    assert.deepEqual(reads('+49 (0)30 90090333'), { number: '+493090090333' });
    assert.deepEqual(reads('+44 (0)20 7930 1110'), { number: '+442079301110' });
  });

  it('keeps extensions', () => {
    assert.deepEqual(reads('020 7930 1110 x204', 'GB'), { number: '+442079301110', extension: '204' });
    assert.deepEqual(reads('+44 20 7930 1110 ext. 12'), { number: '+442079301110', extension: '12' });
    assert.deepEqual(reads('+1 (415) 555-0132 #77'), { number: '+14155550132', extension: '77' });
  });

  it('accepts RFC 3966 tel: URIs, with ;ext=', () => {
    assert.deepEqual(reads('tel:+1-555-015-0555'), { number: '+15550150555' });
    assert.deepEqual(reads('tel:+44-20-7930-1110;ext=77'), { number: '+442079301110', extension: '77' });
  });

  it('international numbers need a possible length for their country, not an allocated range', () => {
    assert.deepEqual(reads('+1 555 0100 000'), { number: '+15550100000' }, 'fictional 555 numbers pass');
    assert.match(refuses('+44 20'), /too short/);
    assert.match(refuses('+1 415 555 01000 123 4'), /too long/);
    assert.match(refuses('+999 1234 5678'), /country code/);
  });

  it('without a region, a number without country code is an error, never +1', () => {
    assert.equal(
      refuses('020 7930 1110'),
      'has no country code, and the rule sets no phoneRegion: write it as +<country code> <number>, or set phoneRegion on the rule',
    );
    assert.match(refuses('013-0481'), /no country code/);
    assert.match(refuses('0044 20 7930 1110'), /no country code/, 'an international prefix needs the region that dials it');
  });

  it('a national number that cannot be read for the region fails', () => {
    assert.equal(refuses('013-0481', 'GB'), 'cannot be read as a GB number (too few digits, or a trunk prefix where none belongs)');
    assert.equal(refuses('555-0132', 'US'), 'is too short for a US number', 'a local number without its area code');
    assert.equal(refuses('call reception', 'GB'), 'is not a phone number');
    assert.equal(refuses('12', 'GB'), 'is too short for a GB number');
  });

  it('phoneRegion must be a region libphonenumber knows (upper-cased)', () => {
    assert.equal(PhoneRegionSchema.parse('gb'), 'GB');
    assert.equal(PhoneRegionSchema.safeParse('UK').success, false, 'the ISO code is GB');
    assert.equal(PhoneRegionSchema.safeParse('XX').success, false);
  });

  it('compares Duo numbers by digits and extension', () => {
    assert.equal(duoPhoneKey('+442079301110', ''), duoPhoneKey('442079301110', null));
    assert.notEqual(duoPhoneKey('+442079301110', '204'), duoPhoneKey('+442079301110', ''));
    assert.equal(duoPhoneKey('+1 (415) 555-0132', undefined), '+14155550132');
  });
});
