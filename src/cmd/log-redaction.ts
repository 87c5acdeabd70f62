import type { LoggerOptions } from "pino";

/**
 * What logs never print: credentials (authorization headers, tokens, keys)
 * and customer personal data (addresses with names, emails, phones), at the
 * top of a log object or one or two levels down (e.g. `{ req: { headers } }`,
 * `{ order: { shippingAddress } }`).
 */
const SECRET_FIELDS = [
  "authorization",
  "token",
  "accessToken",
  "privateKey",
  "key",
  "keys",
  "shippingAddress",
  "address",
  "email",
  "phone",
];

export const LOG_REDACTION: NonNullable<LoggerOptions["redact"]> = {
  paths: SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`]),
  censor: "[redacted]",
};
