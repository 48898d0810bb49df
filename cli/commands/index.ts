import { BOOTSTRAP_DEFAULTS } from '../../bootstrap/defaults.ts'
import { CLUSTER_DEFAULTS } from '../../metal/cluster/defaults.ts'
import { FEDORA_RELEASE } from '../../metal/discover/defaults.ts'
import { PXE_PORTS } from '../../metal/pxe/ports.ts'
import type { CommandSpec } from '../command.ts'

export const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'validate',
    summary: 'check homelab.yaml and print a summary',
    description:
      'Checks the config (syntax, every field, cross-field rules) and prints a summary: machines,\n' +
      'DHCP mode, control-plane endpoint and the computed load-balancer pool. Then renders every\n' +
      'component folder with these settings by real Helm (the pinned Helm 4, offline) and checks it:\n' +
      'Chart.yaml pins, manifests against their schemas, routes (the shared Gateway, the domain, a\n' +
      'backend Service the render defines), no Bitnami image,\n' +
      'unique namespaces. An upstream chart is rendered too when its verified archive is in\n' +
      '.cache/charts, else a warning says it was not. Exit 1 on any error.',
    options: { fetch: { type: 'boolean' } },
    optionHelp: [
      '      --fetch            [boolean] first download each pinned upstream chart archive from its',
      "                         repository's index.yaml, verified by the index's sha256 digest (recorded),",
      '                         into .cache/charts (default: offline, our templates plus cached charts)',
    ],
    load: async () => (await import('./validate.ts')).validate,
  },
  {
    name: 'init',
    summary: 'write homelab.yaml from what this controller finds on its network',
    description:
      "Detects the controller's network (the default route's interface, or --interface): subnet, gateway,\n" +
      "DNS servers (/etc/resolv.conf, or systemd-resolved's upstream list). Sends one DHCPDISCOVER, never\n" +
      'followed by a REQUEST (so nothing is leased), and proposes dhcp.mode proxy when a server offers, else\n' +
      'full. Finds your SSH public key (or creates ~/.ssh/id_ed25519 with ssh-keygen when you agree). Asks\n' +
      'only what it cannot find (domain, time zone, Fedora release), writes a commented homelab.yaml with\n' +
      'its $schema line, and validates it. Never overwrites a file without --force. Next: homelab discover.',
    options: {
      interface: { type: 'string' },
      gateway: { type: 'string' },
      domain: { type: 'string' },
      timezone: { type: 'string' },
      release: { type: 'string' },
      'ssh-key': { type: 'string' },
      seed: { type: 'string' },
      'iso-url': { type: 'string' },
      'iso-sha256': { type: 'string' },
      mode: { type: 'string' },
      probe: { type: 'string' },
      yes: { type: 'boolean', short: 'y' },
      force: { type: 'boolean' },
    },
    optionHelp: [
      "      --interface IF     [string] the interface on the machines' network (default: the default route's)",
      "      --gateway ADDR     [string] network.gateway (default: the default route's, else the DHCP offer's router)",
      '      --domain NAME      [string] gitops.domain, apps are served as <app>.NAME (asked; --yes: home.arpa)',
      "      --timezone TZ      [string] os.timezone, an IANA name (default: this controller's)",
      `      --release N        [number] os.release, the Fedora release (default: ${FEDORA_RELEASE})`,
      '      --ssh-key FILE     [string] os.sshPublicKey (default: the first of ~/.ssh/id_{ed25519,ecdsa,rsa}.pub)',
      '      --seed URL         [string] gitops.seed.url (default: the git remote "origin", else asked)',
      `      --iso-url URL      [string] os.iso.url, the Fedora Server DVD (default: Fedora ${FEDORA_RELEASE}'s; asked for another release), or test-os`,
      "      --iso-sha256 HEX   [string] os.iso.sha256, from the release's CHECKSUM file (asked)",
      '      --mode MODE        [string] proxy or full: skip the DHCP probe and use MODE',
      '      --probe S          [number] seconds to wait for DHCP offers (default: 4)',
      '  -y, --yes              [boolean] ask nothing: take every default (creates an SSH key if none is found)',
      '      --force            [boolean] replace an existing config file',
    ],
    load: async () => (await import('./init.ts')).init,
  },
  {
    name: 'discover',
    stoppable: true,
    summary:
      'list the machines that PXE-boot on the network (answers nothing); --add puts them in homelab.yaml',
    description:
      'Listens on network.interface (or --interface) for PXE DHCP requests, answering nothing, until Ctrl-C\n' +
      'or --for SECONDS. One line per machine: MAC, vendor (IEEE OUI registry), firmware (BIOS, UEFI, UEFI\n' +
      'HTTP, from option 93) and whether homelab.yaml has it. Power the machines on, or --wake MAC sends a\n' +
      'Wake-on-LAN packet. --add appends the new ones to machines: with proposed names and the next free\n' +
      'addresses (outside the load-balancer pool, dhcp.range, the gateway, the controller and the endpoint),\n' +
      'keeping every comment and the layout of the file.',
    options: {
      interface: { type: 'string' },
      for: { type: 'string' },
      add: { type: 'boolean' },
      wake: { type: 'string', multiple: true },
      role: { type: 'string' },
    },
    optionHelp: [
      '      --interface IF     [string] where to listen (default: network.interface of the config)',
      '      --for S            [number] stop after S seconds (default: until Ctrl-C)',
      '      --add              [boolean] append the machines not in the config when it stops',
      '      --wake MAC         [string] send Wake-on-LAN to MAC first (repeatable)',
      '      --role ROLE        [string] role of added machines: server or agent (default: server up to 3, then agent)',
    ],
    load: async () => (await import('./discover.ts')).discover,
  },
  {
    name: 'machine',
    summary: 'machine add NAME --mac MAC | machine remove NAME: edit machines: in homelab.yaml',
    description:
      'add NAME     appends a machine with --mac, and --ip (default: the next free address), --role (default:\n' +
      '             server), --disk, --nic, --firmware. Refuses a name, MAC or address already used, or an address\n' +
      '             the config reserves, with the messages of homelab validate.\n' +
      '             Only the new entry is written: comments and layout stay as they are.\n' +
      "remove NAME  deletes the machine's entry. Refuses while it is a node of the cluster (run\n" +
      '             `homelab node remove NAME` first).',
    usage: 'add NAME --mac MAC [options] | remove NAME',
    options: {
      mac: { type: 'string' },
      ip: { type: 'string' },
      role: { type: 'string' },
      disk: { type: 'string' },
      nic: { type: 'string' },
      firmware: { type: 'string' },
      state: { type: 'string' },
    },
    optionHelp: [
      '      --mac MAC          [string] add: the MAC of the NIC that netboots (required)',
      '      --ip ADDR          [string] add: the static address (default: the next free one)',
      '      --role ROLE        [string] add: server or agent (default: server)',
      '      --disk DISK        [string] add: the install disk (default: sda; name it by /dev/disk/by-id/...)',
      '      --nic NAME         [string] add: the NIC name in the installed OS (default: eno1; the installer reports it)',
      '      --firmware FW      [string] add: uefi, uefi-http or bios (default: unset, uefi)',
      '      --state DIR        [string] remove: where state is kept, the kubeconfig included (default: .state beside the config)',
    ],
    load: async () => (await import('./machine.ts')).machine,
  },
  {
    name: 'plan',
    summary: 'show what `make` (homelab up) would do, step by step, touching nothing',
    description:
      'Lists what `make` (homelab up) would do with this config, from the same steps the flow runs\n' +
      '(metal, cluster, bootstrap): the PXE server, each machine and how it boots, the cluster roles,\n' +
      'and the Applications the root app would create from system/, platform/, apps/.',
    load: async () => (await import('./plan.ts')).planCommand,
  },
  {
    name: 'new-service',
    summary: 'scaffold a component: a wrapper chart pinning an upstream chart, with its route',
    description:
      'Writes <layer>/NAME/: Chart.yaml pinning CHART at the exact VERSION from REPO (https:// or oci://)\n' +
      'plus homelab-lib, values.yaml (the upstream values under CHART, its ingress off; an HTTPRoute at\n' +
      'NAME.<domain> on the shared Gateway) and templates/routes.yaml. Refuses an existing name (in any layer), a\n' +
      'name that is not a DNS label and a version that is not exact. Then: homelab validate.',
    usage: 'NAME --chart REPO/CHART@VERSION [--layer LAYER]',
    options: { chart: { type: 'string' }, layer: { type: 'string' } },
    optionHelp: [
      '      --chart REF        [string] REPO/CHART@VERSION, e.g. https://charts.example.com/web@1.2.3 (required)',
      '      --layer LAYER      [string] system, platform or apps (default: apps)',
    ],
    load: async () => (await import('./new-service.ts')).newService,
  },
  {
    name: 'up',
    stoppable: true,
    summary: 'the whole flow: metal, then cluster, then bootstrap, then external (what `make` runs)',
    description:
      'Runs the steps of the flow (flow/flow.ts) in order, each as its own command would: homelab metal\n' +
      '(preflight, netboot, install), homelab cluster (k3s over SSH), homelab bootstrap (ArgoCD and the\n' +
      'root app), homelab external (Cloudflare; nothing without external.cloudflare). Stops at the first step that fails. `homelab plan` describes the same steps. Takes\n' +
      "every step's options; bootstrap's --timeout is --bootstrap-timeout here.",
    options: {
      skip: { type: 'string', multiple: true },
      state: { type: 'string' },
      reinstall: { type: 'string', multiple: true },
      timeout: { type: 'string', multiple: true },
      'kernel-args': { type: 'string' },
      'skip-doctor': { type: 'boolean' },
      verbose: { type: 'boolean', short: 'v' },
      'ready-timeout': { type: 'string' },
      parallel: { type: 'string' },
      'ssh-retries': { type: 'string' },
      'bootstrap-timeout': { type: 'string' },
    },
    optionHelp: [
      '      --skip STEP        [string] do not run STEP: metal, cluster, bootstrap or external (repeatable)',
      '      --state DIR        [string] where state is kept (default: .state beside the config)',
      '      --reinstall NAME   [string] metal: install NAME again even though it is installed (repeatable)',
      '      --timeout S=SEC    [string] metal: seconds a machine may stay in stage S (repeatable)',
      '      --kernel-args ARGS [string] metal: extra kernel arguments for the installer',
      '      --skip-doctor      [boolean] metal: do not run the preflight checks',
      '  -v, --verbose          [boolean] metal: also show clients that are ignored',
      `      --ready-timeout S  [number] cluster: seconds every node may take to turn Ready (default: ${CLUSTER_DEFAULTS.readyTimeoutMs / 1000})`,
      `      --parallel N       [number] cluster: nodes converged at once (default: ${CLUSTER_DEFAULTS.parallel})`,
      `      --ssh-retries N    [number] cluster: SSH connection retries per node (default: ${CLUSTER_DEFAULTS.sshRetries})`,
      `      --bootstrap-timeout S [number] bootstrap: seconds each wait may take (default: ${BOOTSTRAP_DEFAULTS.timeoutMs / 1000})`,
    ],
    load: async () => (await import('./up.ts')).up,
  },
  {
    name: 'doctor',
    summary: 'check the controller and its network before booting anything',
    description:
      'Checks the interface and its address, privileges, that ports 67/69/80/4011 are free, other DHCP\n' +
      'servers on the segment (an error in full mode, expected in proxy mode) and machine addresses\n' +
      'already answered by other hosts. With external.cloudflare: the Cloudflare token valid, the scoped\n' +
      'tokens limited to the zone and in their Secrets, the tunnel connected (when a cluster runs), the\n' +
      'DNS record pointing at it. Each problem comes with how to fix it. Exit 1 if any check fails.',
    load: async () => (await import('./doctor.ts')).doctorCommand,
  },
  {
    name: 'metal',
    stoppable: true,
    summary: 'netboot and install the machines that need it (preflight first)',
    description:
      'Runs homelab doctor, gets the installer ISO (downloaded once, verified), starts the PXE server\n' +
      'for the machines that are not installed yet, wakes them (Wake-on-LAN) and follows each one:\n' +
      'DHCP, boot loader, kernel, installer, installed, SSH ready. A machine whose SSH answers with the\n' +
      'host key recorded at its install is skipped. One live line per machine; a summary at the end.\n' +
      'This is the first step of `homelab up` (metal, cluster, bootstrap); alone, it stops after the install.',
    options: {
      reinstall: { type: 'string', multiple: true },
      timeout: { type: 'string', multiple: true },
      'kernel-args': { type: 'string' },
      'skip-doctor': { type: 'boolean' },
      'skip-cluster': { type: 'boolean' },
      state: { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
    },
    optionHelp: [
      '      --reinstall NAME   [string] install NAME again even though it is installed (repeatable)',
      '      --timeout S=SEC    [string] seconds a machine may stay in stage S before it is reported stalled',
      '                         (repeatable; stages: waiting, dhcp, boot-loader, kernel, installer, installed)',
      '      --kernel-args ARGS [string] extra kernel arguments for the installer (e.g. console=ttyS0)',
      '      --skip-doctor      [boolean] do not run the preflight checks',
      '      --skip-cluster     [boolean] no effect: metal alone never runs the cluster step (kept for scripts)',
      '      --state DIR        [string] where machine state is kept (default: .state beside the config)',
      '  -v, --verbose          [boolean] also show clients that are ignored (not in the config)',
    ],
    load: async () => (await import('./metal.ts')).metal,
  },
  {
    name: 'render',
    summary: 'write every file the PXE server would serve (kickstarts, GRUB and iPXE configs) to a folder',
    description:
      'Renders, from homelab.yaml, the files `homelab metal` generates and serves, for reading before\n' +
      'anything boots: ks/<mac>.ks per machine, the GRUB configs (uefi/grub.cfg and grub.cfg over HTTP,\n' +
      'grub/grub.cfg over TFTP) and boot.ipxe. The same functions as the server, nothing booted or served.\n' +
      "Refuses a folder that already holds files unless --force. The ISO's own files are not written.",
    options: {
      out: { type: 'string' },
      force: { type: 'boolean' },
      server: { type: 'string' },
      'kernel-args': { type: 'string' },
    },
    optionHelp: [
      '      --out DIR          [string] the folder to write into (required; made if missing)',
      '      --force            [boolean] write into a folder that already holds files (same names are replaced)',
      '      --server ADDR      [string] the server address in URLs, ADDR or ADDR:PORT (default: network.controller,',
      '                         else the address of network.interface on this machine)',
      '      --kernel-args ARGS [string] extra kernel arguments for the installer, as homelab metal --kernel-args',
    ],
    load: async () => (await import('./render.ts')).render,
  },
  {
    name: 'cluster',
    stoppable: true,
    summary: 'build or converge the k3s cluster over SSH (HA, never forks)',
    description:
      'Connects to every machine over SSH (host keys pinned), reads what each holds, then converges:\n' +
      'prerequisites, the pinned k3s (downloaded once, sha256-verified), token, config, service. A server\n' +
      'that holds the cluster keeps it; with none, one server initialises it (never by list order alone);\n' +
      'the others join through the endpoint. Writes the kubeconfig (0600) and waits until every node is\n' +
      'Ready. Re-running changes nothing on converged nodes; a new machine in homelab.yaml joins.',
    options: {
      state: { type: 'string' },
      'ready-timeout': { type: 'string' },
      parallel: { type: 'string' },
      'ssh-retries': { type: 'string' },
    },
    optionHelp: [
      '      --state DIR        [string] where state is kept (default: .state beside the config)',
      `      --ready-timeout S  [number] seconds every node may take to turn Ready (default: ${CLUSTER_DEFAULTS.readyTimeoutMs / 1000})`,
      `      --parallel N       [number] nodes converged at once (default: ${CLUSTER_DEFAULTS.parallel}; servers join one at a time)`,
      `      --ssh-retries N    [number] SSH connection retries per node, with backoff (default: ${CLUSTER_DEFAULTS.sshRetries})`,
    ],
    load: async () => (await import('./cluster.ts')).cluster,
  },
  {
    name: 'bootstrap',
    stoppable: true,
    summary: 'install ArgoCD (pinned manifest) and the root app that deploys every layer',
    description:
      'Applies the pinned ArgoCD install manifest (bootstrap/argocd/upstream.yaml, sha256-verified), rendered\n' +
      'with bootstrap/argocd/install by the pinned kubectl (`kubectl kustomize`, as ArgoCD renders it), through\n' +
      'the Kubernetes API with server-side apply (field manager argocd-controller): namespace argocd, the\n' +
      'CRDs (waits until Established), the rest (waits until the Deployments are Available), the generated\n' +
      "secrets (each created only when absent: homelab secrets) and ArgoCD's login through Dex, then the root\n" +
      'Application with the settings from homelab.yaml. It follows the in-cluster Gitea once Gitea serves\n' +
      'the repo, else the seed. Then it waits until Vault answers, initialises and unseals it (keys and root\n' +
      'token 0600 in <state>/vault/init.json, never printed) and configures its login through Dex.\n' +
      'Re-running changes nothing and recreates a deleted root app.\n' +
      '--pin-argocd (for a version change) downloads the manifest and writes its sha256 into upstream.yaml\n' +
      '(review, then commit).',
    options: {
      state: { type: 'string' },
      timeout: { type: 'string' },
      'pin-argocd': { type: 'boolean' },
    },
    optionHelp: [
      '      --state DIR        [string] where state is kept, the kubeconfig included (default: .state beside the config)',
      `      --timeout S        [number] seconds each wait may take (CRDs Established, workloads ready) (default: ${BOOTSTRAP_DEFAULTS.timeoutMs / 1000})`,
      '      --pin-argocd       [boolean] download the manifest, print its sha256 and write it into upstream.yaml',
    ],
    load: async () => (await import('./bootstrap.ts')).bootstrap,
  },
  {
    name: 'external',
    summary:
      'the Cloudflare tunnel, its DNS record and scoped API tokens, from one API token (external: set)',
    description:
      'With external.cloudflare in homelab.yaml, converges through the Cloudflare API from one API token\n' +
      '(HOMELAB_CLOUDFLARE_API_TOKEN, else the copy in .state/cloudflare-api-token (0600), else asked on a\n' +
      'terminal; kept there and as the Secret kube-system/homelab-cloudflare-api-token, never printed):\n' +
      'a tunnel named homelab-<domain> routing *.<domain> to the shared Gateway, its token in the Secret\n' +
      'cloudflared/cloudflared-tunnel, the proxied CNAME *.<domain> to it, and tokens limited to DNS on the\n' +
      'zone for external-dns and cert-manager (Secrets cloudflare-api-token in their namespaces), rotated\n' +
      'before they expire. Touches only what carries the homelab name; deletes nothing. Re-running changes\n' +
      'nothing. See docs/external.md.',
    options: { plan: { type: 'boolean' }, state: { type: 'string' } },
    optionHelp: [
      '      --plan             [boolean] print what would change, change nothing (works before the cluster exists)',
      '      --state DIR        [string] where state is kept, the kubeconfig included (default: .state beside the config)',
    ],
    load: async () => (await import('./external.ts')).external,
  },
  {
    name: 'status',
    summary: "nodes, ArgoCD Applications (sync, health) and the routes' URLs",
    description:
      'Reads the cluster through the Kubernetes API: each node (Ready or not), each ArgoCD Application\n' +
      'with its sync and health status, and every HTTPRoute hostname as https://HOST.',
    options: { state: { type: 'string' } },
    optionHelp: ['      --state DIR        [string] where state is kept (default: .state beside the config)'],
    load: async () => (await import('./bootstrap.ts')).status,
  },
  {
    name: 'secrets',
    summary: 'list | show NAME | rotate NAME: the generated secrets (admin passwords, OIDC clients)',
    description:
      'The secrets homelab generates (bootstrap/secrets/registry.ts), created by `homelab bootstrap` only\n' +
      'when absent and never changed by a render or a sync (docs/secrets.md).\n' +
      '  list         each name, its Kubernetes Secrets and what uses it; never a value\n' +
      '  show NAME    prints that one value (show admin: the initial password of the single sign-on admin)\n' +
      '  rotate NAME  new values for that one, then restarts the workloads that use it',
    usage: 'list | show NAME | rotate NAME',
    options: { state: { type: 'string' } },
    optionHelp: [
      '      --state DIR        [string] where state is kept, the kubeconfig included (default: .state beside the config)',
    ],
    load: async () => (await import('./secrets.ts')).secrets,
  },
  {
    name: 'vault',
    summary: 'status | unseal: Vault seal state; unseal with the keys bootstrap kept (0600)',
    description:
      '`homelab bootstrap` initialises Vault and keeps its unseal keys and root token in\n' +
      '<state>/vault/init.json (0600, never printed). After a restart Vault is sealed:\n' +
      '  status   initialised or not, sealed or not (Vault answers through the API server)\n' +
      '  unseal   sends the keys until Vault is unsealed (`homelab status` does it too when it finds Vault sealed)',
    usage: 'status | unseal',
    options: { state: { type: 'string' }, 'vault-addr': { type: 'string' } },
    optionHelp: [
      '      --state DIR        [string] where state is kept (default: .state beside the config)',
      "      --vault-addr URL   [string] reach Vault at URL (e.g. kubectl port-forward) instead of the API server's service proxy",
    ],
    load: async () => (await import('./vault.ts')).vault,
  },
  {
    name: 'kubeconfig',
    summary: 'print the export KUBECONFIG=... line for the cluster',
    description:
      'Prints `export KUBECONFIG=<state>/kubeconfig`: the kubeconfig `homelab cluster` wrote (0600,\n' +
      'git-ignored), its server set to the control-plane endpoint. Use: eval "$(bin/homelab kubeconfig)".',
    options: { state: { type: 'string' } },
    optionHelp: ['      --state DIR        [string] where state is kept (default: .state beside the config)'],
    load: async () => (await import('./cluster.ts')).kubeconfig,
  },
  {
    name: 'node',
    summary: 'node remove NAME: drain a node, delete it from the cluster, uninstall k3s',
    description:
      'remove NAME  cordons the node, evicts its pods (DaemonSet pods excepted, PodDisruptionBudgets\n' +
      '             respected), deletes it from the cluster, then uninstalls k3s from the machine over SSH.\n' +
      '             Refuses to remove the only server. Then delete the machine from homelab.yaml.',
    usage: 'remove NAME [options]',
    options: {
      state: { type: 'string' },
      'drain-timeout': { type: 'string' },
      'ssh-retries': { type: 'string' },
    },
    optionHelp: [
      '      --state DIR        [string] where state is kept (default: .state beside the config)',
      `      --drain-timeout S  [number] seconds allowed for the pods to leave (default: ${CLUSTER_DEFAULTS.drainTimeoutMs / 1000})`,
      `      --ssh-retries N    [number] SSH connection retries, with backoff (default: ${CLUSTER_DEFAULTS.sshRetries})`,
    ],
    load: async () => (await import('./cluster.ts')).node,
  },
  {
    name: 'lab',
    stoppable: true,
    summary: 'the built-in lab: up (build it), down (remove it), status',
    description:
      'The lab is a private network (namespaces) with a "home router" (dnsmasq) and QEMU machines\n' +
      'that `homelab metal` netboots and installs as it would real machines (make lab).\n' +
      '  up      build it, or repair it: switch, router, controller interface, power daemon, SSH key\n' +
      '          (missing tools are installed with apt-get on Debian as root)\n' +
      '  down    end every lab process by PID, delete the namespaces and the interface\n' +
      '  status  what exists and runs; each machine on/off with its PID and console log\n' +
      'Needs root. Nothing in the lab is routed beyond it. See docs/lab.md.',
    usage: 'up|down|status [options]',
    options: {
      state: { type: 'string' },
      prefix: { type: 'string' },
    },
    optionHelp: [
      '      --state DIR        [string] where lab state is kept (default: .state beside the config; the lab uses DIR/lab)',
      "      --prefix NAME      [string] names of the lab's namespaces, NAME-sw and NAME-router (default: hl-lab)",
    ],
    load: async () => (await import('./lab.ts')).lab,
  },
  {
    name: 'pxe',
    stoppable: true,
    summary: 'run the PXE server alone (DHCP, TFTP, HTTP) until Ctrl-C',
    description:
      'Runs the PXE server on network.interface: DHCP in the configured mode (answering only the\n' +
      'machines in the config), TFTP and HTTP serving --root. Shows one live line per machine\n' +
      '(with --json, streams every boot event). Needs root for ports 67, 69, 80 and 4011.',
    options: {
      root: { type: 'string' },
      'http-port': { type: 'string' },
      'tftp-port': { type: 'string' },
      verbose: { type: 'boolean', short: 'v' },
    },
    optionHelp: [
      '      --root DIR         [string] the folder served over TFTP and HTTP (required)',
      `      --http-port N      [number] HTTP port (default: ${PXE_PORTS.http})`,
      `      --tftp-port N      [number] TFTP port (default: ${PXE_PORTS.tftp})`,
      '  -v, --verbose          [boolean] also show clients that are ignored (not in the config)',
    ],
    load: async () => (await import('./pxe.ts')).pxe,
  },
]
