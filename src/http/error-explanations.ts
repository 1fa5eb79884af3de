/**
 * What an error code means to a person reading the error page. oidc-provider's descriptions
 * ("client is invalid", "redirect_uri did not match …") are written for developers; the page
 * leads with an explanation and a next step, and keeps the code and the developer's detail
 * below it for whoever has to fix the app. Pure: code in, words out.
 */
export interface Explanation {
  heading: string;
  message: string;
}

const EXPLANATIONS: Record<string, Explanation> = {
  invalid_client: {
    heading: 'This app cannot sign you in',
    message: 'The app that sent you here is not registered with this server, or it has been suspended. Nothing was shared with it. If you followed a link from the app, tell its developer.',
  },
  invalid_redirect_uri: {
    heading: 'This app cannot sign you in',
    message: 'The app asked to send you back to an address it has not registered. Nothing was shared with it. Tell the app’s developer.',
  },
  invalid_request: {
    heading: 'This request could not be completed',
    message: 'The link or form that brought you here was incomplete or malformed. Go back to the app and start again.',
  },
  invalid_scope: {
    heading: 'This app asked for something it may not have',
    message: 'The app asked for permissions it is not allowed to request. Nothing was shared with it. Tell the app’s developer.',
  },
  unauthorized_client: {
    heading: 'This app cannot sign you in this way',
    message: 'The app is not allowed to use this kind of sign-in. Tell the app’s developer.',
  },
  unsupported_response_type: {
    heading: 'This app cannot sign you in this way',
    message: 'The app asked for a kind of sign-in this server does not offer. Tell the app’s developer.',
  },
  access_denied: {
    heading: 'Access was not granted',
    message: 'The request was refused. You can go back to the app and try again.',
  },
  login_required: {
    heading: 'Please sign in',
    message: 'You need to sign in first. Go back to the app and start again.',
  },
  session_not_found: {
    heading: 'This page has expired',
    message: 'This sign-in page is no longer valid (it may have been used already or left open too long). Go back to the app and start again.',
  },
  csrf: {
    heading: 'This form has expired',
    message: 'The form was stale or did not come from this site. Go back, reload the page and try again.',
  },
  not_found: {
    heading: 'Page not found',
    message: 'There is nothing at this address. Check the link, or start from your account page.',
  },
  too_many_requests: {
    heading: 'Too many attempts',
    message: 'There were too many attempts. Wait a little and try again.',
  },
  server_error: {
    heading: 'Something went wrong on our side',
    message: 'Please try again in a moment. If it keeps happening, tell the operator of this server.',
  },
  temporarily_unavailable: {
    heading: 'Temporarily unavailable',
    message: 'This service cannot answer right now. Please try again in a moment.',
  },
};

/** oidc-provider says an expired or unknown interaction in words, not a code of its own. */
function codeOf(code: string, detail: string): string {
  if (code === 'invalid_request' && /interaction session|session not found|expired/i.test(detail)) return 'session_not_found';
  return code;
}

export function explainError(code: string | undefined, detail: string): Explanation | undefined {
  return code ? EXPLANATIONS[codeOf(code, detail)] : undefined;
}
