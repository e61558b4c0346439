// The embed widget page as the browser tests load it (see hooks.ts).
import { bootEmbedPage } from '../../web/src/embed/boot.ts';
import { pageHooks } from './hooks.ts';

bootEmbedPage(pageHooks());
