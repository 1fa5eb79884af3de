import { InputError } from '../errors.ts';
import type { ScopeAccess } from './api-store.ts';

/**
 * `notes:read=read` → { name: 'notes:read', access: 'read' }: how the CLI's --scope names a scope
 * and whether it reads or writes. Pure, and apart from the API registry, so that parsing a command
 * line loads no storage code.
 */
export function parseScopeSpec(spec: string): { name: string; access: ScopeAccess } {
  const [name, access, ...rest] = spec.split('=');
  if (!name || rest.length || (access !== 'read' && access !== 'write')) {
    throw new InputError(`scope "${spec}" must look like <name>=read or <name>=write`);
  }
  return { name, access };
}
