/**
 * What `homelab init` writes when nobody says otherwise. The project pins these in the shipped
 * homelab.yaml (os.release, the commented Fedora ISO URL, cluster.k3sVersion); defaults.test.ts
 * fails when the two drift apart.
 */

/** The Fedora release the project installs and checks against (pykickstart F43, GRUB fedora-43: docs/metal.md). */
export const FEDORA_RELEASE = 43

/** The Fedora Server DVD of FEDORA_RELEASE, as the shipped homelab.yaml names it. */
export const FEDORA_ISO_URL =
  'https://download.fedoraproject.org/pub/fedora/linux/releases/43/Server/x86_64/iso/Fedora-Server-dvd-x86_64-43-1.6.iso'

/** The k3s release the project pins (cluster.k3sVersion of the shipped homelab.yaml). */
export const K3S_VERSION = 'v1.33.5+k3s1'

/** The domain `init --yes` proposes: home.arpa is reserved for home networks (RFC 8375). */
export const DEFAULT_DOMAIN = 'home.arpa'

/** The seed repository when the checkout has no git remote: the project's own. */
export const DEFAULT_SEED = 'https://github.com/homelab-as-code/homelab'

/** How long to wait for DHCP offers: routers such as dnsmasq ping an address for ~3 s before offering it. */
export const DHCP_PROBE_MS = 4000

/** Machines proposed as servers before the rest become agents (three give etcd a quorum that survives one loss). */
export const SERVERS_FIRST = 3
