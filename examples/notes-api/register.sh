#!/bin/sh
# Registers the notes API and a demo app in Latchkey (run from the repository root, with the
# same environment as the server: DATA_DIR or DATABASE_URL, ISSUER …).
# Prints the API's introspection credentials and the app's client secret once — store them.
# Notes belong to users, so the API offers no scope to machines (no --machine-scope) and
# refuses client_credentials tokens (examples/notes-api/app.ts).
set -eu
AUDIENCE="${NOTES_AUDIENCE:-https://notes.example.com/api}"
FORMAT="${NOTES_TOKEN_FORMAT:-jwt}"   # jwt (verified locally) or opaque (introspected)
LATCHKEY="npm run --silent latchkey --"   # Node 24 from node_modules/.bin

$LATCHKEY api create --name "Notes" --audience "$AUDIENCE" \
  --scope notes:read=read --scope notes:write=write --token-format "$FORMAT"

if [ -n "${NOTES_APP_REDIRECT_URI:-}" ]; then
  $LATCHKEY client create --name "Notebook" --type web --redirect-uri "$NOTES_APP_REDIRECT_URI" \
    --scope "openid offline_access notes:read notes:write"
fi
