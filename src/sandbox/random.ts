/**
 * Seedable randomness for the sandbox: object ids, generated keys and fault injection all draw from
 * a PRNG so a test or benchmark run can be replayed exactly with the same seed.
 */
import { randomInt } from 'node:crypto';

export type Random = () => number;

/** mulberry32: tiny, fast, good enough for ids and fault dice (not for secrets of real systems). */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomSeed(): number {
  return randomInt(0, 2 ** 31);
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

export function randomString(random: Random, length: number, alphabet: string = ID_ALPHABET): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet.charAt(Math.floor(random() * alphabet.length));
  return out;
}

/** Duo ids are a two-letter type prefix and 18 upper-case letters/digits (e.g. DU3RP9I2WOC59VZX672N). */
export function duoId(random: Random, prefix: 'DU' | 'DG' | 'DP' | 'DE'): string {
  return prefix + randomString(random, 18);
}

export function integrationKey(random: Random): string {
  return 'DI' + randomString(random, 18);
}

export function secretKey(random: Random): string {
  return randomString(random, 40, KEY_ALPHABET);
}

/** Unseeded, cryptographically strong source for generated secret keys. */
export const cryptoRandom: Random = () => randomInt(0, 2 ** 32) / 2 ** 32;
