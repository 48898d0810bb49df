import type { Machine } from '../../core/config/schema.ts'

/** A machine of homelab.yaml for the cluster tests: its name, address and role; the rest is fixed. */
export const testMachine = (name: string, ip: string, role: 'server' | 'agent' = 'server'): Machine => ({
  name,
  ip,
  role,
  mac: '52:54:00:00:00:01',
  disk: 'vda',
  nic: 'enp0s2',
})
