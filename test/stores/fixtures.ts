/**
 * One directory, described once, loaded into every adapter's backend (file, slapd, SCIM server)
 * so the contract suite asserts the same facts everywhere. Includes hostile usernames that would
 * break out of an LDAP or SCIM filter if any value went unescaped.
 */
export interface FixtureUser {
  username: string;
  givenName?: string;
  familyName?: string;
  displayName?: string;
  email?: string;
  phones?: string[];
  enabled?: boolean;
  title?: string;
  groups?: string[];
}

export interface FixtureGroup {
  name: string;
  description?: string;
}

export interface Dataset {
  users: Iterable<FixtureUser>;
  groups: FixtureGroup[];
  count: number;
}

export const LDAP_HOSTILE = 'a*)(uid=*';
export const SCIM_HOSTILE = 'x" or userName pr or "';
export const BACKSLASH_HOSTILE = 'back\\slash*';
export const FILLER_COUNT = 25;

export function contractDataset(): Dataset {
  const users: FixtureUser[] = [
    { username: 'alice', givenName: 'Alice', familyName: 'Anders', displayName: 'Alice Anders', email: 'alice@example.com', phones: ['+15550001'], title: 'Engineer', groups: ['engineering'] },
    { username: 'bob', givenName: 'Bob', familyName: 'Brown', email: 'bob@corp.example', phones: ['+15550002', '+15550003'], title: 'Engineer', groups: ['engineering', 'sales'] },
    { username: 'carol', givenName: 'Carol', familyName: 'Cole', email: 'carol@example.com', enabled: false, title: 'Seller', groups: ['sales'] },
    { username: 'dave', familyName: 'Doe', email: 'dave@example.com', title: 'Manager' },
    { username: 'émile', familyName: 'Zola', email: 'emile@example.com', title: 'Writer' },
    { username: LDAP_HOSTILE, familyName: 'Hostile', title: 'Intruder' },
    { username: SCIM_HOSTILE, familyName: 'Hostile', title: 'Intruder' },
    { username: BACKSLASH_HOSTILE, familyName: 'Hostile', title: 'Intruder' },
  ];
  for (let i = 0; i < FILLER_COUNT; i++) users.push({ username: `filler${String(i).padStart(3, '0')}`, familyName: 'Filler', email: `filler${i}@example.com`, title: 'Filler' });
  return {
    users,
    groups: [{ name: 'engineering', description: 'Builds things' }, { name: 'sales' }, { name: 'contractors' }],
    count: users.length,
  };
}

/** A large directory, generated lazily so the generator itself holds no arrays. */
export function largeDataset(count: number): Dataset {
  function* gen(): Generator<FixtureUser> {
    for (let i = 0; i < count; i++) {
      const n = String(i).padStart(6, '0');
      yield { username: `user${n}`, givenName: 'User', familyName: `Number${n}`, email: `user${n}@example.com`, phones: [`+1555${n}`], title: 'Staff', groups: i % 10 === 0 ? ['tenth'] : [] };
    }
  }
  return { users: { [Symbol.iterator]: gen }, groups: [{ name: 'tenth' }], count };
}
