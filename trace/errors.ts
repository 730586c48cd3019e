/**
 * The one error type every trace reader throws. It names where the problem is (file,
 * byte offset or JSON path) and what was expected there, so a user can tell a truncated
 * download from a file of the wrong kind.
 */
export class TraceFormatError extends Error {
  file?: string;
  offset?: number;
  jsonPath?: string;
  expected?: string;

  constructor(message: string, where: { file?: string; offset?: number; jsonPath?: string; expected?: string } = {}) {
    super(formatTraceError(message, where));
    this.name = 'TraceFormatError';
    this.file = where.file;
    this.offset = where.offset;
    this.jsonPath = where.jsonPath;
    this.expected = where.expected;
  }
}

/** Builds `file: at byte N (or JSON path P): message; expected X`. */
export function formatTraceError(
  message: string,
  where: { file?: string; offset?: number; jsonPath?: string; expected?: string },
): string {
  const parts: string[] = [];
  if (where.file) parts.push(where.file);
  if (where.offset !== undefined) parts.push(`at byte ${where.offset}`);
  if (where.jsonPath !== undefined) parts.push(`at ${where.jsonPath}`);
  const prefix = parts.length > 0 ? `${parts.join(' ')}: ` : '';
  const suffix = where.expected ? `; expected ${where.expected}` : '';
  return `${prefix}${message}${suffix}`;
}
