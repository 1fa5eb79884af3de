import type Router from '@koa/router';
import type { Services } from '../context.ts';
import { readForm } from '../http/form-body.ts';
import { listSigningKeyStates, rotateKeys } from '../keys/key-states.ts';
import { adminOf } from './console-auth.ts';
import { consolePage, seeOtherPage, shortTime } from './console-page.ts';

/** Security → Signing keys: each key's state, and rotation (as `latchkey keys rotate [--now]`; audited as keys.rotated by the admin). */
export function keysRoutes(router: Router, services: Services): void {
  router.get('/security/keys', async (ctx) => {
    const keys = await listSigningKeyStates(services);
    consolePage(ctx, 'security', 'keys', {
      title: 'Signing keys',
      tab: 'keys',
      publishDelaySeconds: services.config.keyPublishDelaySeconds,
      keys: keys.map((k) => ({ ...k, createdAtText: shortTime(k.created_at), activatesAtText: shortTime(k.activates_at), retiresAtText: shortTime(k.retires_at) })),
    });
  });

  router.post('/security/keys/rotate', async (ctx) => {
    const form = await readForm(ctx);
    await rotateKeys(services, { now: form.get('immediately') === 'yes', actor: adminOf(ctx).user.id });
    seeOtherPage(ctx, '/admin/security/keys');
  });
}
