/**
 * @agentsight/redact: the one home of what a secret is in a capture (header, parameter and
 * field names; key shapes from secretlint's recommended preset) and how it is replaced (a
 * short sha256 fingerprint, so calls made with the same key still group together). as-http
 * applies it to messages as they are parsed, as-serve before storing, as-otel before export.
 */
export { isSecretField, isSecretParam, SECRET_HEADERS } from './names.js';
export { PRESET_RULES, type Range, secretRanges } from './patterns.js';
export {
  fingerprint,
  redactEvent,
  redacted,
  redactForStore,
  redactHeaders,
  redactHttp,
  redactTarget,
  redactText,
  redactValue,
} from './redact.js';
export { RedactStage } from './stage.js';
