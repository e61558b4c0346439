// What the browser says about the machine, fed to the client where the browser says it: tab
// visibility, the Battery Status API and the Compute Pressure API (idleness: idle.ts). Reading
// these computes nothing; they only pause or slow the trainer.
import type { PressureState, VolunteerClient } from '../client/volunteer.ts';

interface BatteryLike extends EventTarget {
  level: number;
  charging: boolean;
}
interface PressureRecordLike {
  state: PressureState;
}
type PressureObserverCtor = new (cb: (records: PressureRecordLike[]) => void) => { observe(source: 'cpu'): Promise<void> };

export const reason = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function watchEnvironment(client: VolunteerClient): void {
  const visibility = () => client.setEnvironment({ hidden: document.visibilityState === 'hidden' });
  document.addEventListener('visibilitychange', visibility);
  visibility();
  const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> };
  if (typeof nav.getBattery === 'function') {
    nav.getBattery().then(
      (b) => {
        const read = () => client.setEnvironment({ battery: { level: b.level, charging: b.charging } });
        b.addEventListener('levelchange', read);
        b.addEventListener('chargingchange', read);
        read();
      },
      (e: unknown) => client.log('info', `battery status unavailable: ${reason(e)}`),
    );
  }
  const PO = (globalThis as { PressureObserver?: PressureObserverCtor }).PressureObserver;
  if (typeof PO === 'function') {
    try {
      const po = new PO((records) => {
        const last = records.at(-1);
        if (last) client.setEnvironment({ pressure: last.state });
      });
      po.observe('cpu').catch((e: unknown) => client.log('info', `compute pressure unavailable: ${reason(e)}`));
    } catch (e) {
      client.log('info', `compute pressure unavailable: ${reason(e)}`);
    }
  }
}
