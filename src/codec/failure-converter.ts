/**
 * The failure converter used when payload encryption is on. With `encodeCommonAttributes`, a
 * failure's message and stack trace (which can contain usernames and emails) travel in the
 * failure's `encodedAttributes` payload, which the payload codec encrypts; the visible message
 * becomes "Encoded failure". It is loaded by path (`failureConverterPath`) in the worker, the
 * client and inside the workflow bundle, so this module must stay free of Node built-ins and I/O.
 */
import { DefaultFailureConverter } from '@temporalio/common';

export const failureConverter = new DefaultFailureConverter({ encodeCommonAttributes: true });
