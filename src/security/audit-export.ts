import type { AuditRow } from './audit-log.ts';

/**
 * The audit log as a file an operator downloads (console: Security → Audit log → Export):
 * JSON lines (one event per line, as `latchkey audit --json` prints them) or CSV. A CSV cell
 * that a spreadsheet would run as a formula (=, +, -, @, tab, CR at its start: a hostile
 * User-Agent or e-mail) is prefixed with an apostrophe (OWASP "CSV injection").
 */
export const AUDIT_EXPORT_FORMATS = ['jsonl', 'csv'] as const;
export type AuditExportFormat = (typeof AUDIT_EXPORT_FORMATS)[number];

export const AUDIT_CSV_COLUMNS = ['id', 'at', 'type', 'actor', 'userId', 'clientId', 'ip', 'userAgent', 'requestId', 'details'] as const;

export function csvCell(value: unknown): string {
  let text = value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function auditCsvHeader(): string {
  return `${AUDIT_CSV_COLUMNS.join(',')}\r\n`;
}

export function auditExportLine(row: AuditRow, format: AuditExportFormat): string {
  if (format === 'jsonl') return `${JSON.stringify(row)}\n`;
  return `${AUDIT_CSV_COLUMNS.map((c) => csvCell(row[c])).join(',')}\r\n`;
}
