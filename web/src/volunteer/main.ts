// The volunteer app page (index.html).
import { bootVolunteerPage } from './boot.ts';

bootVolunteerPage();
