// The volunteer page as the browser tests load it (see hooks.ts).
import { bootVolunteerPage } from '../../web/src/volunteer/boot.ts';
import { pageHooks } from './hooks.ts';

bootVolunteerPage(pageHooks());
