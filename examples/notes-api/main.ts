/**
 * Runs the notes API (the introspection credentials from `latchkey api create` are needed for
 * tokens of third-party apps, whose user the kit learns through introspection, and for opaque tokens):
 *   LATCHKEY_ISSUER=http://localhost:3000 NOTES_AUDIENCE=https://notes.example.com/api \
 *   [NOTES_INTROSPECTION_CLIENT_ID=… NOTES_INTROSPECTION_CLIENT_SECRET=…] PORT=4000 \
 *   node --import tsx examples/notes-api/main.ts
 */
import { startNotesApi } from './app.ts';

const issuer = process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000';
const audience = process.env.NOTES_AUDIENCE ?? 'https://notes.example.com/api';
const clientId = process.env.NOTES_INTROSPECTION_CLIENT_ID;
const clientSecret = process.env.NOTES_INTROSPECTION_CLIENT_SECRET;

const api = await startNotesApi({
  issuer,
  audience,
  port: Number(process.env.PORT ?? 4000),
  ...(clientId && clientSecret ? { introspection: { clientId, clientSecret, cacheSeconds: 5 } } : {}),
});
console.log(`notes API on ${api.origin} (issuer ${issuer}, audience ${audience})`);
