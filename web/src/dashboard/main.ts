// The project lead's dashboard page (dashboard.html).
import { bootDashboardPage } from './boot.ts';

void bootDashboardPage();
