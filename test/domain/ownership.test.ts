import assert from 'node:assert/strict';
import {
  DUO_NOTES_MAX_LENGTH,
  formatMarker,
  isOwnedBy,
  isOwnedPhone,
  MAX_STORE_ID_LENGTH,
  parseGroupMarker,
  parseMarker,
  parseUserMarker,
  phoneMarker,
  sameUserMarker,
  stripGroupMarker,
  stripMarker,
  withGroupMarker,
  withMarker,
} from '../../src/domain/ownership';
import { OWNER } from './fixtures';

const MARKER = '[duo-sync:c=acme;r=staff]';

describe('domain/ownership', () => {
  it('formats a short machine-readable marker', () => {
    assert.equal(formatMarker(OWNER), MARKER);
    assert.throws(() => formatMarker({ connectionId: 'Acme', ruleId: 'staff' }), /slugs/);
  });

  it('appends the marker on its own line after human notes, and parses it back', () => {
    const notes = withMarker('Contractor until June', OWNER);
    assert.equal(notes, `Contractor until June\n${MARKER}`);
    assert.deepEqual(parseMarker(notes), OWNER);
    assert.equal(stripMarker(notes), 'Contractor until June');
  });

  it('empty human notes give just the marker', () => {
    assert.equal(withMarker('', OWNER), MARKER);
    assert.equal(withMarker(null, OWNER), MARKER);
    assert.equal(withMarker('  \n', OWNER), MARKER);
  });

  it('replaces an existing marker instead of stacking markers', () => {
    const other = withMarker('note', { connectionId: 'old', ruleId: 'r' });
    assert.equal(withMarker(other, OWNER), `note\n${MARKER}`);
    assert.equal(withMarker(withMarker('note', OWNER), OWNER), `note\n${MARKER}`);
  });

  it('isOwnedBy checks the connection, and the rule when given', () => {
    const notes = withMarker('x', OWNER);
    assert.equal(isOwnedBy(notes, 'acme'), true);
    assert.equal(isOwnedBy(notes, 'acme', 'staff'), true);
    assert.equal(isOwnedBy(notes, 'acme', 'contractors'), false);
    assert.equal(isOwnedBy(notes, 'globex'), false);
    assert.equal(isOwnedBy(null, 'acme'), false);
    assert.equal(isOwnedBy('', 'acme'), false);
  });

  describe('hostile or damaged notes', () => {
    const notOwned: [string, string][] = [
      ['a marker in the middle', `${MARKER}\nplease keep`],
      ['a marker glued to text on the last line', `see ${MARKER}`],
      ['upper-case ids', '[duo-sync:c=ACME;r=staff]'],
      ['spaces inside', '[duo-sync: c=acme; r=staff]'],
      ['a missing rule', '[duo-sync:c=acme]'],
      ['extra fields', '[duo-sync:c=acme;r=staff;x=1]'],
      ['ids that are not slugs', '[duo-sync:c=-acme;r=staff]'],
      ['text after the marker', `${MARKER} ok`],
      ['an unterminated marker', '[duo-sync:c=acme;r=staff'],
      ['a look-alike prefix', '[duo-sync2:c=acme;r=staff]'],
    ];
    for (const [name, notes] of notOwned) {
      it(`does not count ${name}`, () => {
        assert.equal(parseMarker(notes), null);
        assert.equal(isOwnedBy(notes, 'acme'), false);
      });
    }

    it('only the last marker line counts', () => {
      assert.deepEqual(parseMarker(`${MARKER}\n[duo-sync:c=globex;r=all]`), { connectionId: 'globex', ruleId: 'all' });
    });

    it('tolerates trailing whitespace and CRLF after the marker', () => {
      assert.deepEqual(parseMarker(`hello\r\n${MARKER}\r\n`), OWNER);
      assert.equal(stripMarker(`hello\r\n${MARKER}\r\n`), 'hello');
    });

    it('stripping removes every trailing marker, so released notes never still look owned', () => {
      const stacked = `human\n${MARKER}\n${MARKER}\n[duo-sync:c=globex;r=x]`;
      assert.equal(stripMarker(stacked), 'human');
      assert.equal(parseMarker(stripMarker(stacked)), null);
    });

    it('a fake marker inside human text stays text, and ours goes last', () => {
      const notes = withMarker(`Typed: ${MARKER}\nand a forged line\n[duo-sync:c=globex;r=x]`, OWNER);
      assert.deepEqual(parseMarker(notes), OWNER);
      assert.equal(notes, `Typed: ${MARKER}\nand a forged line\n${MARKER}`);
    });
  });

  describe('length', () => {
    it('truncates the human part, never the marker, to fit Duo notes', () => {
      const notes = withMarker('x'.repeat(5000), OWNER);
      assert.equal(notes.length, DUO_NOTES_MAX_LENGTH);
      assert.ok(notes.endsWith(`…\n${MARKER}`));
      assert.deepEqual(parseMarker(notes), OWNER);
    });

    it('keeps notes that fit exactly untouched', () => {
      const human = 'y'.repeat(DUO_NOTES_MAX_LENGTH - MARKER.length - 1);
      assert.equal(withMarker(human, OWNER), `${human}\n${MARKER}`);
      assert.equal(withMarker(`${human}z`, OWNER).length, DUO_NOTES_MAX_LENGTH);
      assert.ok(withMarker(`${human}z`, OWNER).includes('…'));
    });

    it('is idempotent after truncation (no update on every run)', () => {
      const once = withMarker('long '.repeat(400), OWNER);
      assert.equal(withMarker(stripMarker(once), OWNER), once);
    });

    it('does not split a surrogate pair', () => {
      const notes = withMarker('😀'.repeat(600), OWNER, 100);
      assert.equal(notes.length <= 100, true);
      const human = stripMarker(notes);
      assert.equal(human.replace(/😀/g, ''), '…');
    });

    it('honours a custom maximum (e.g. group descriptions)', () => {
      assert.equal(withMarker('abcdefghij', OWNER, MARKER.length + 6), `abcd…\n${MARKER}`);
      assert.throws(() => withMarker('a', OWNER, 5), /shorter than the marker/);
    });
  });

  describe('store id in user markers', () => {
    const DN = 'uid=jdoe,ou=contractors,dc=example,dc=org';

    it('records the store id percent-encoded and parses it back', () => {
      const notes = withMarker('note', { ...OWNER, storeId: DN });
      assert.equal(notes, 'note\n[duo-sync:c=acme;r=staff;s=uid%3Djdoe%2Cou%3Dcontractors%2Cdc%3Dexample%2Cdc%3Dorg]');
      assert.deepEqual(parseUserMarker(notes), { ...OWNER, storeId: DN });
      assert.deepEqual(parseMarker(notes), OWNER, 'parseMarker keeps answering connection and rule');
      assert.equal(isOwnedBy(notes, 'acme', 'staff'), true);
      assert.equal(stripMarker(notes), 'note');
    });

    it('ids with ], ; or a newline cannot end the marker early', () => {
      const storeId = 'a];r=evil\n[duo-sync:c=x;r=y]';
      assert.deepEqual(parseUserMarker(withMarker('', { ...OWNER, storeId })), { ...OWNER, storeId });
    });

    it('old markers without a store id still parse, as owned, without an id', () => {
      assert.deepEqual(parseUserMarker(`human\n${MARKER}`), OWNER);
      assert.equal(parseUserMarker(`human\n${MARKER}`)?.storeId, undefined);
    });

    it('sameUserMarker compares connection, rule and store id', () => {
      const a = withMarker('x', { ...OWNER, storeId: 'one' });
      assert.equal(sameUserMarker(a, withMarker('y', { ...OWNER, storeId: 'one' })), true);
      assert.equal(sameUserMarker(a, withMarker('x', { ...OWNER, storeId: 'two' })), false);
      assert.equal(sameUserMarker(a, MARKER), false, 'an old marker is not the same as one with an id');
      assert.equal(sameUserMarker(a, withMarker('x', { connectionId: 'acme', ruleId: 'other', storeId: 'one' })), false);
      assert.equal(sameUserMarker('no marker', 'no marker'), false);
    });

    it('refuses empty and over-long ids (callers fail that user before planning)', () => {
      assert.throws(() => formatMarker({ ...OWNER, storeId: '' }), /1-256 characters/);
      assert.throws(() => formatMarker({ ...OWNER, storeId: 'x'.repeat(MAX_STORE_ID_LENGTH + 1) }), /1-256 characters/);
      const longest = withMarker('', { ...OWNER, storeId: '%'.repeat(MAX_STORE_ID_LENGTH) });
      assert.equal(parseUserMarker(longest)?.storeId, '%'.repeat(MAX_STORE_ID_LENGTH));
    });

    it('user and group markers stay apart', () => {
      const userNotes = withMarker('', { ...OWNER, storeId: 'g1' });
      assert.equal(parseGroupMarker(userNotes), null);
      const desc = withGroupMarker('Engineers', { ...OWNER, externalId: 'g1' });
      assert.equal(parseUserMarker(desc), null);
      assert.equal(stripGroupMarker(`${desc}\n${formatMarker({ ...OWNER, storeId: 's' })}`), 'Engineers');
    });
  });

  describe('phones', () => {
    it('names the phones a connection creates, and only that exact name is ours', () => {
      assert.equal(phoneMarker('acme'), 'duo-sync:acme');
      assert.equal(isOwnedPhone('duo-sync:acme', 'acme'), true);
      for (const name of ['duo-sync:globex', 'Duo-Sync:acme', 'duo-sync:acme ', 'iPhone', '', null, undefined]) assert.equal(isOwnedPhone(name, 'acme'), false, String(name));
      assert.throws(() => phoneMarker('Acme'), /slugs/);
    });
  });
});
