import { plainText, type Text } from '../domain/text.ts';

/** Bad input: the user is shown what was wrong and the right form. Nothing is written. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage?: string,
  ) {
    super(message);
  }
}

/**
 * A well-formed request that is refused (not allowed, not found, wrong state). Nothing
 * of the request is written; when `audited`, the refusal itself is appended to the audit
 * chain, as PRODUCT.md asks for denied attempts. `text` is what the person is shown (neutral
 * text: it may name people); `message` is its plain form, for logs and the audit trail.
 */
export class Refusal extends Error {
  readonly text: Text;

  constructor(
    text: Text,
    readonly audit?: { action: string; subjectType?: string; subjectId?: string; reason?: string },
  ) {
    super(plainText(text));
    this.text = text;
  }
}
