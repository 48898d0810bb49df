# homelab: `make` builds everything from homelab.yaml. Every target runs on Node 24
# (tools/node24 fetches it once from the npm registry when the host's Node is older).
.POSIX:
NODE_BIN := $(shell tools/node24 --print-bin)
export PATH := $(NODE_BIN):$(PATH)
HOMELAB := bin/homelab

.PHONY: default up validate plan doctor metal cluster bootstrap external status lab lab-down test check docs deps clean-deps

# The whole flow, defined once in flow/flow.ts: metal (netboot, install), cluster (k3s over SSH),
# bootstrap (ArgoCD and the root app, which deploys everything else from git), external (Cloudflare,
# only with external.cloudflare). `make plan` lists the same steps. `make metal`, `make cluster`,
# `make bootstrap`, `make external` run one step alone.
default: validate up

up: deps
	$(HOMELAB) up

deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

validate: deps
	$(HOMELAB) validate

plan: deps
	$(HOMELAB) plan

doctor: deps
	$(HOMELAB) doctor

# Netboot and install the machines that need it (root: ports 67, 69, 80): the first step alone.
metal: deps
	$(HOMELAB) metal

# The k3s cluster over SSH alone (machines already installed): converges, safe to re-run.
# Then: eval "$$(bin/homelab kubeconfig)"
cluster: deps
	$(HOMELAB) cluster

# ArgoCD from its pinned manifest, then the root app (needs the kubeconfig `homelab cluster` wrote).
# Safe to re-run: changes nothing when nothing changed; switches the root app to the in-cluster
# Gitea once it serves the repo. `make status` shows nodes, Applications and URLs.
bootstrap: deps
	$(HOMELAB) bootstrap

# The Cloudflare tunnel, DNS record and scoped tokens (external.cloudflare in homelab.yaml), from the
# API token in HOMELAB_CLOUDFLARE_API_TOKEN (once; then kept in .state/). Safe to re-run.
external: deps
	$(HOMELAB) external

status: deps
	$(HOMELAB) status

# The main job on the built-in lab (root): `homelab lab up` builds a private network with a
# home router and QEMU machines (installing what it needs on Debian), then the flow's metal step
# alone (`homelab metal`) netboots and installs them. Timeouts suit emulated machines (no KVM:
# firmware is slow).
# The lab stays up to look at: `bin/homelab lab status`, consoles in .state/lab/vms/*/console.log,
# `ssh -i .state/lab/id_ed25519 root@10.77.0.10`. `make lab-down` removes it.
# The cluster and bootstrap steps are not run here: k3s cannot be downloaded offline, and the
# lab's test OS is not Fedora (see docs/cluster.md; the cluster is tested on stand-in nodes instead).
LAB_TIMEOUTS := --timeout waiting=300 --timeout dhcp=300 --timeout boot-loader=300 \
	--timeout kernel=300 --timeout installer=600 --timeout installed=300
lab: deps
	$(HOMELAB) lab up
	$(HOMELAB) metal --kernel-args console=ttyS0 $(LAB_TIMEOUTS)

lab-down: deps
	$(HOMELAB) lab down

# Format, lint, typecheck, layer boundaries and every test (unit, integration, end-to-end).
test: deps
	npm test

docs: deps
	npm run docs:build

clean-deps:
	rm -rf node_modules tools/.cache
