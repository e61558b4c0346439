// The embed widget page (embed.html), framed by partner sites through public/embed.js.
import { bootEmbedPage } from './boot.ts';

bootEmbedPage();
