# homelab: `make` builds everything from homelab.yaml. Every target runs on Node 24
# (tools/node24 fetches it once from the npm registry when the host's Node is older).
.POSIX:
NODE_BIN := $(shell tools/node24 --print-bin)
export PATH := $(NODE_BIN):$(PATH)
HOMELAB := bin/homelab

.PHONY: default validate plan test check docs deps clean-deps

# The whole flow. Its steps are added as the layers land: validate and plan today;
# metal (PXE, install, k3s) and bootstrap (ArgoCD) next.
default: validate plan

deps: node_modules/.package-lock.json
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

validate: deps
	$(HOMELAB) validate

plan: deps
	$(HOMELAB) plan

# Format, lint, typecheck and every test (unit, integration, end-to-end).
test: deps
	npm test

docs: deps
	npm run docs:build

clean-deps:
	rm -rf node_modules tools/.cache
