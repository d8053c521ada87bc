/**
 * Duo's rules for the values duo-sync sends as a user's `username` and `email`, in one place: the
 * mapping checks them before any Duo call (a bad value fails that user, not a Duo request), and
 * the Duo sandbox enforces the same rules so tests see what Duo would reject. Each rule says
 * where it comes from; docs/stores.md ("Duo's rules for usernames and emails") explains them for
 * operators. Pure: imported by workflow code as well as activities.
 *
 * Sources:
 * - Duo, "Import Users" (duo.com/docs/importing-users): a username "may include spaces, numbers,
 *   and punctuation"; "the email value must be a correctly formatted SMTP address".
 * - Duo documents no maximum username length and no case rule. Duo's own clients and the
 *   community treat usernames as case-insensitive (a lookup by username also matches aliases);
 *   duo-sync assumes so, and the sandbox indexes them that way.
 * - RFC 5321 §4.1.2 / RFC 5322 §3.2.3 (Mailbox, dot-atom) and RFC 5321 §4.5.3.1 (local part at most
 *   64 octets, a path at most 256, so an address at most 254) for what "a correctly formatted SMTP
 *   address" means; domains are host names (RFC 1123 labels; internationalised domains in their
 *   ASCII "xn--" form, RFC 5890).
 */

// ---- usernames --------------------------------------------------------------------------------

/**
 * The one username normalisation, used wherever a Duo username is computed or compared: surrounding
 * white space is removed (a uid of " ada" and "ada" are the same person, and a value with invisible
 * edges is never what an operator meant to send). Case is kept as the directory writes it: Duo
 * stores the username as sent, and comparisons use `usernameKey`.
 */
export function normalizeUsername(raw: string): string {
  return raw.trim();
}

/** Comparison key for usernames: normalised, then case-folded (Duo matches usernames case-insensitively). */
export function usernameKey(username: string): string {
  return normalizeUsername(username).toLowerCase();
}

// C0 and C1 control characters, and the Unicode line and paragraph separators.
const CONTROL_RE = /[\p{Cc}\u2028\u2029]/u;

/**
 * Why `username` (already normalised) is not a username Duo takes, or null when it is fine.
 * - required: empty is refused (Duo: `username` is required on create);
 * - printable: letters, digits, spaces and punctuation are allowed (Duo: "may include spaces,
 *   numbers, and punctuation"); control characters and line breaks are refused, since they are
 *   none of those and cannot be typed at a login prompt;
 * - no surrounding white space: `normalizeUsername` removes it; a value that still has it was not
 *   normalised, which is a bug in the caller;
 * - length: Duo documents no limit, so none is enforced (an invented one would refuse users Duo
 *   accepts).
 */
export function usernameProblem(username: string): string | null {
  if (username === '') return 'is empty';
  if (CONTROL_RE.test(username)) return 'contains control characters or line breaks';
  if (username !== normalizeUsername(username)) return 'has white space at its start or end';
  return null;
}

// ---- emails -----------------------------------------------------------------------------------

/** RFC 5321 §4.5.3.1.1: a local part is at most 64 octets. */
export const EMAIL_MAX_LOCAL_LENGTH = 64;
/** RFC 5321 §4.5.3.1.3: a path is at most 256 octets including the angle brackets, so 254 for the address. */
export const EMAIL_MAX_LENGTH = 254;

// RFC 5322 §3.2.3 atext, as dot-atom: no leading, trailing or doubled dots.
const ATEXT = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const LOCAL_RE = new RegExp(`^${ATEXT}(?:\\.${ATEXT})*$`);
// RFC 1123 host name labels; at least two labels, as every internet mail domain has.
const LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?';
const DOMAIN_RE = new RegExp(`^${LABEL}(?:\\.${LABEL})+$`);

/**
 * Why `email` (trimmed) is not "a correctly formatted SMTP address", or null when it is:
 * exactly one `@`; a dot-atom local part of at most 64 characters; a host name domain with at
 * least two labels; at most 254 characters in all. Quoted local parts, address literals
 * (`user@[192.0.2.1]`) and non-ASCII addresses (RFC 6531) are refused: directories rarely hold
 * them, and Duo documents no support for them.
 */
export function emailProblem(email: string): string | null {
  const at = email.lastIndexOf('@');
  if (at < 0 || email.indexOf('@') !== at) return 'must contain exactly one "@"';
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (email.length > EMAIL_MAX_LENGTH) return `is longer than ${EMAIL_MAX_LENGTH} characters`;
  if (local.length === 0 || local.length > EMAIL_MAX_LOCAL_LENGTH) return `must have 1-${EMAIL_MAX_LOCAL_LENGTH} characters before the "@"`;
  if (!LOCAL_RE.test(local)) return 'has a part before the "@" that is not letters, digits and !#$%&\'*+/=?^_`{|}~- separated by single dots';
  if (!DOMAIN_RE.test(domain)) return 'has a domain that is not a host name such as example.com (internationalised domains in their xn-- form)';
  return null;
}
