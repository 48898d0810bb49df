import type { CommandSpec } from '../command.ts'

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'validate',
    summary: 'check homelab.yaml and print a summary',
    description:
      'Checks the config (syntax, every field, cross-field rules) and prints a summary: machines,\n' +
      'DHCP mode, control-plane endpoint and the computed load-balancer pool. Exit 1 on any error.',
    load: async () => (await import('./validate.ts')).validate,
  },
  {
    name: 'plan',
    summary: 'show what `make` would do, layer by layer, touching nothing',
    description:
      'Lists what `make` would do with this config: the PXE server, each machine and how it boots,\n' +
      'the cluster roles, and the Applications the root app would create from system/, platform/, apps/.',
    load: async () => (await import('./plan.ts')).planCommand,
  },
]
