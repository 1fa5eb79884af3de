import type Router from '@koa/router';
import type { Services } from '../context.ts';
import { readForm } from '../http/form-body.ts';
import { rotateServerSigningKeys } from '../keys/key-rotation.ts';
import { listSigningKeys } from '../keys/signing-key-states.ts';
import { requestFields } from '../security/security-events.ts';
import { adminOf } from './console-auth.ts';
import { consolePage, seeOtherPage, shortTime } from './console-page.ts';

/** Security → Signing keys: each published key's state, and rotation (as `latchkey keys rotate [--now]`). */
export function keysRoutes(router: Router, services: Services): void {
  router.get('/security/keys', async (ctx) => {
    const keys = await listSigningKeys(services.db);
    consolePage(ctx, 'security', 'keys', {
      title: 'Signing keys',
      tab: 'keys',
      publishDelaySeconds: services.config.keyPublishDelaySeconds,
      keys: keys.map((k) => ({ ...k, createdAtText: shortTime(k.createdAt), activatesAtText: shortTime(k.activatesAt), retiresAtText: shortTime(k.retiresAt) })),
    });
  });

  router.post('/security/keys/rotate', async (ctx) => {
    const admin = adminOf(ctx);
    const form = await readForm(ctx);
    const immediately = form.get('immediately') === 'yes';
    const result = await rotateServerSigningKeys(services, immediately);
    services.events.emit({
      type: 'admin.keys.rotate',
      actor: admin.user.id,
      details: { added: result.added, activatesAt: result.activatesAt, immediately, via: 'console' },
      ...requestFields(ctx),
    });
    seeOtherPage(ctx, '/admin/security/keys');
  });
}
