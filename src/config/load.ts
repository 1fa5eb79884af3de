import { existsSync } from 'node:fs';
import dotenv from 'dotenv';
import { loadConfig, type Config } from './config.ts';

/** Reads an optional .env from the working directory (real environment variables win), then parses. */
export function loadConfigFromEnvironment(): Config {
  if (existsSync('.env')) dotenv.config({ path: '.env', quiet: true });
  return loadConfig(process.env);
}
