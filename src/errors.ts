/** A problem with what the caller asked for: shown to them as is, exit code 2 in the CLI, 400 over HTTP. */
export class InputError extends Error {
  override name = 'InputError';
}

/** The thing asked for does not exist. */
export class NotFoundError extends Error {
  override name = 'NotFoundError';
}
