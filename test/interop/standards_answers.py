#!/usr/bin/python3
"""An independent, non-JavaScript OAuth client checks Latchkey's standard answers (issue 15).

Debian's authlib, requests and PyJWT, run by test/e2e/standards-answers.test.ts with a JSON
setup on stdin: {issuer, service, web, api, machine_scope}. Prints one JSON line per check
({"check", "ok", "detail"}) and exits 1 when any fails. Never prints a secret or a token.

1. 401 from the token, introspection, revocation and PAR endpoints carries WWW-Authenticate
   (RFC 6749 5.2, RFC 9110 11.6.1), also for client_secret_post and unknown public clients.
2. A grant type the client is not registered for is unauthorized_client (RFC 6749 5.2).
3. A JWT access token introspects as active with its claims (RFC 7662), a tampered one as inactive.
4. client_credentials with a scope the client was not given is invalid_scope (RFC 6749 5.2).
"""
import base64
import json
import os
import sys

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test server listens on http://127.0.0.1

import jwt  # PyJWT
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session

setup = json.load(sys.stdin)
issuer = setup["issuer"]
meta = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
results = []


def check(name, ok, detail=""):
    results.append({"check": name, "ok": bool(ok), "detail": detail})


def session(client, method="client_secret_basic", **kwargs):
    return OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method=method, **kwargs)


def oauth_error(call):
    try:
        call()
    except OAuthError as error:
        return error.error
    return "no error"


# 1. A challenge with every 401 of the client endpoints.
wrong = {"client_id": setup["service"]["client_id"], "client_secret": "not-the-secret"}
post_attempts = {
    "token, client_secret_post": (meta["token_endpoint"], {"grant_type": "client_credentials", **wrong}),
    "token, unknown public client": (meta["token_endpoint"], {"grant_type": "authorization_code", "client_id": "no-such-client", "code": "x", "code_verifier": "x" * 43, "redirect_uri": "http://127.0.0.1/cb"}),
    "introspection, client_secret_post": (meta["introspection_endpoint"], {"token": "whatever", **wrong}),
    "revocation, client_secret_post": (meta["revocation_endpoint"], {"token": "whatever", **wrong}),
    "PAR, client_secret_post": (meta["pushed_authorization_request_endpoint"], {"response_type": "code", "redirect_uri": "http://127.0.0.1/cb", "code_challenge": "x" * 43, "code_challenge_method": "S256", **wrong}),
}
for name, (url, form) in post_attempts.items():
    r = requests.post(url, data=form, timeout=10)
    challenge = r.headers.get("WWW-Authenticate", "")
    check(f"401 challenge: {name}", r.status_code == 401 and challenge.startswith('Basic realm="') and r.json().get("error") == "invalid_client",
          f"{r.status_code} WWW-Authenticate: {challenge!r} error: {r.json().get('error')}")
r = requests.post(meta["token_endpoint"], data={"grant_type": "client_credentials"}, auth=(wrong["client_id"], wrong["client_secret"]), timeout=10)
check("401 challenge: token, client_secret_basic", r.status_code == 401 and r.headers.get("WWW-Authenticate", "").startswith('Basic realm="'),
      f"{r.status_code} WWW-Authenticate: {r.headers.get('WWW-Authenticate')!r}")
# authlib, told the secret is wrong, reports the OAuth error the body names.
check("authlib reads invalid_client", oauth_error(lambda: session(wrong, "client_secret_post").fetch_token(meta["token_endpoint"], grant_type="client_credentials")) == "invalid_client")

# 2. unauthorized_client for a grant type the client is not registered for.
error = oauth_error(lambda: session(setup["web"]).fetch_token(meta["token_endpoint"], grant_type="client_credentials"))
check("unauthorized_client: web app asks for client_credentials", error == "unauthorized_client", error)
error = oauth_error(lambda: session(setup["service"]).fetch_token(meta["token_endpoint"], grant_type="refresh_token", refresh_token="whatever"))
check("unauthorized_client: service app asks for refresh_token", error == "unauthorized_client", error)

# 3. Introspection of a JWT access token by its API.
token = session(setup["service"], scope=setup["machine_scope"]).fetch_token(meta["token_endpoint"], grant_type="client_credentials")["access_token"]
signing_key = jwt.PyJWKClient(meta["jwks_uri"]).get_signing_key_from_jwt(token)
claims = jwt.decode(token, signing_key.key, algorithms=["ES256", "RS256"], audience=setup["api"]["audience"], issuer=issuer)
api = {"client_id": setup["api"]["introspection_client_id"], "client_secret": setup["api"]["introspection_client_secret"]}
r = session(api).introspect_token(meta["introspection_endpoint"], token=token, token_type_hint="access_token")
body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
same = all(body.get(k) == claims.get(k) for k in ("sub", "client_id", "scope", "aud", "exp", "iat", "iss", "jti"))
check("JWT introspection: active with the token's claims", r.status_code == 200 and body.get("active") is True and same and body.get("token_type") == "Bearer",
      f"{r.status_code} active={body.get('active')} error={body.get('error')} same_claims={same} token_type={body.get('token_type')}")
header, payload, signature = token.split(".")
forged = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
forged["scope"] = forged.get("scope", "") + " admin"
tampered = ".".join([header, base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("="), signature])
r = session(api).introspect_token(meta["introspection_endpoint"], token=tampered)
check("JWT introspection: a tampered JWT is inactive", r.status_code == 200 and r.json() == {"active": False}, f"{r.status_code} {r.json()}")

# 4. invalid_scope for a scope the client was not given.
error = oauth_error(lambda: session(setup["service"], scope="bogus:scope").fetch_token(meta["token_endpoint"], grant_type="client_credentials"))
check("invalid_scope: client_credentials with scope=bogus:scope", error == "invalid_scope", error)

for result in results:
    print(json.dumps(result))
sys.exit(0 if all(result["ok"] for result in results) else 1)
