// `npm start`: the coordinator on the configuration of its environment (coordinator/config.ts).
import { configFromEnv } from './config.ts';
import { serve } from './serve.ts';

await serve(configFromEnv(process.env));
