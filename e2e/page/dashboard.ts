// The dashboard page as the browser tests load it: window.__idlegradDashboard reads the store's state.
import type { DashboardState } from '../../shared/wire/index.ts';
import { bootDashboardPage } from '../../web/src/dashboard/boot.ts';

declare global {
  interface Window {
    __idlegradDashboard?: { readonly state: DashboardState | null };
  }
}

bootDashboardPage({
  onStore: (store) =>
    Object.defineProperty(window, '__idlegradDashboard', {
      value: Object.freeze({
        get state() {
          return store.state;
        },
      }),
      configurable: true,
    }),
});
