/**
 * Phone numbers as directories hold them ("020 7930 1110", "+49 (0)30 90090333", "x204",
 * "tel:+44-20-7930-1110;ext=77") read into what Duo stores: an E.164 number plus an extension.
 * Parsing and formatting are libphonenumber-js's (Google's libphonenumber metadata), with the
 * rule's `phoneRegion` as the default region for numbers written without a country code.
 *
 * What is accepted (docs/stores.md, "Phone numbers"):
 * - international numbers (`+`, `tel:+`) whose length is possible for their country. Allocation
 *   is not checked: fictional ranges (+1 555 01xx, Ofcom's drama numbers) and ranges newer than
 *   the metadata pass, as Duo takes them;
 * - national numbers, only with a region: valid numbers of that region, and numbers of a possible
 *   length once the region's trunk or international prefix was recognised ("07700 900123" →
 *   +44 7700 900123). A national number that needs neither and is still not valid is ambiguous
 *   (e.g. "013-0481" in GB) and fails;
 * - extensions (`x204`, `ext. 12`, `#77`, `;ext=77`) are kept for Duo's `extension` field.
 * Pure: libphonenumber-js is deterministic and does no I/O, so workflow code may import this.
 */
import { isSupportedCountry, ParseError, parsePhoneNumberWithError, validatePhoneNumberLength, type CountryCode, type PhoneNumber } from 'libphonenumber-js/max';
import { z } from 'zod';

/** Duo's phone `type` values (Admin API, POST /admin/v1/phones). */
export const PhoneTypeSchema = z.enum(['mobile', 'landline', 'unknown']);
export type PhoneType = z.infer<typeof PhoneTypeSchema>;

/** A rule's default region for numbers without a country code: an ISO 3166-1 alpha-2 code. */
export const PhoneRegionSchema = z
  .string()
  .trim()
  .toUpperCase()
  .refine((code) => isSupportedCountry(code), 'must be a two-letter ISO 3166-1 region code with a phone numbering plan, e.g. "GB", "US" or "DE"');

export type PhoneReading = { ok: true; number: string; extension?: string } | { ok: false; reason: string };

export const NO_COUNTRY_CODE = 'has no country code, and the rule sets no phoneRegion: write it as +<country code> <number>, or set phoneRegion on the rule';

const INTERNATIONAL_RE = /^(?:tel:)?\s*[+\uFF0B]/i;

function lengthReason(problem: ReturnType<typeof validatePhoneNumberLength>, where: string): string {
  switch (problem) {
    case 'TOO_SHORT':
      return `is too short for ${where}`;
    case 'TOO_LONG':
      return `is too long for ${where}`;
    default:
      return `does not have a possible length for ${where}`;
  }
}

/**
 * True when libphonenumber recognised a country code, trunk prefix or international prefix,
 * i.e. the national number is not simply every digit that was written.
 */
function prefixRecognised(text: string, parsed: PhoneNumber): boolean {
  const digits = text.replace(/\D/g, '');
  const significant = parsed.ext && digits.endsWith(parsed.ext) ? digits.slice(0, -parsed.ext.length) : digits;
  return significant !== parsed.nationalNumber;
}

/**
 * Reads one non-empty directory value. `region` is the rule's `phoneRegion` (already validated);
 * without it only international numbers are accepted. The reason of a failure completes a
 * sentence about the value ("… "013-0481" cannot be read as a GB number …").
 */
export function readPhone(raw: string, region?: string): PhoneReading {
  const text = raw.trim();
  const country: CountryCode | undefined = region !== undefined && isSupportedCountry(region) ? region : undefined;
  const international = INTERNATIONAL_RE.test(text);
  const options = country ? { defaultCountry: country } : undefined;
  let parsed: PhoneNumber;
  try {
    parsed = parsePhoneNumberWithError(text, options);
  } catch (err) {
    const code = err instanceof ParseError ? err.message : 'NOT_A_NUMBER';
    if (code === 'INVALID_COUNTRY') return { ok: false, reason: international ? 'has a country code no country uses' : NO_COUNTRY_CODE };
    if (code === 'TOO_LONG') return { ok: false, reason: 'is too long to be a phone number' };
    return { ok: false, reason: 'is not a phone number' };
  }
  const where = parsed.country ?? `+${parsed.countryCallingCode}`;
  if (!parsed.isPossible()) return { ok: false, reason: lengthReason(validatePhoneNumberLength(text, options), `a ${where} number`) };
  if (!parsed.isValid() && !international && !prefixRecognised(text, parsed)) {
    return { ok: false, reason: `cannot be read as a ${where} number (too few digits, or a trunk prefix where none belongs)` };
  }
  return { ok: true, number: parsed.number, ...(parsed.ext ? { extension: parsed.ext } : {}) };
}

/**
 * Comparison key for a phone as Duo holds it: `+` and the digits, then the extension. Duo stores
 * E.164 (a number sent without `+` gets `+1`), but some answers omit the `+`; digits compare either way.
 */
export function duoPhoneKey(number: string, extension: string | null | undefined): string {
  const digits = number.replace(/\D/g, '');
  return extension ? `+${digits};ext=${extension}` : `+${digits}`;
}
