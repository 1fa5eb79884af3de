import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';

/** Server-rendered pages from views/. Eta escapes every `<%= %>` output by default. */
export const viewsDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../views');

const eta = new Eta({ views: viewsDir, autoEscape: true, cache: true });

export function renderView(name: string, data: Record<string, unknown>): string {
  return eta.render(`./${name}`, data);
}
