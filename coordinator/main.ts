// `npm start`: the coordinator on the configuration of its environment (coordinator/config.ts).
// It takes no flags (only --help): configuration is the environment, one validated object.
import { parseCli } from '../shared/cli.ts';
import { START_CLI } from './start-cli.ts';
import { configFromEnv } from './config.ts';
import { serve } from './serve.ts';

parseCli(START_CLI);
await serve(configFromEnv(process.env));
