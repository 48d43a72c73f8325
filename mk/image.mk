# mk/image.mk - graft's container image, built offline without a daemon, and
# the offline checks of the Kubernetes example (issue 15). Both live in
# examples/kubernetes/check, a Go module of its own (replace => ../../..), so
# that k8s.io/api and go-containerregistry stay out of the library's go.mod.
# Included by the top-level Makefile.
#
#   make image            build/graft-image.tar: the static build/graft at /graft
#                         on an empty base, tagged graft:VERSION, user 65532, as a
#                         docker-archive (docker load / podman load / kind load
#                         image-archive read it; crane push sends it to a
#                         registry). The same commit gives the same image digest
#                         (created = the commit's time, or SOURCE_DATE_EPOCH).
#   make test-kubernetes  every document of examples/kubernetes/*.yaml decoded
#                         strictly into the Kubernetes API types and
#                         cross-checked (labels, Services, ports, probes, the
#                         graft run flags through the real parser, certificates,
#                         peers); the image built, read back as docker load
#                         reads it, its config checked and its graft run.
#                         About 20 s once built (the first build of k8s.io/api
#                         takes a minute or two more).

IMAGE_TAR ?= $(BUILD)/graft-image.tar
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
K8S_CHECK := examples/kubernetes/check

.PHONY: image
image: check-go $(BUILD)/graft ## build/graft-image.tar: graft's container image (docker-archive), built offline
	cd $(K8S_CHECK) && $(GO) run ./cmd/graft-image -bin $(abspath $(BUILD))/graft \
	  -version $(GRAFT_VERSION) -created $(SOURCE_DATE_EPOCH) -o $(abspath $(IMAGE_TAR))

.PHONY: test-kubernetes
test-kubernetes: check-go $(BUILD)/graft ## Kubernetes example: manifests decoded strictly and cross-checked; the image built, opened, its graft run
	cd $(K8S_CHECK) && $(GO) vet ./... && test -z "$$(gofmt -l .)"
	cd $(K8S_CHECK) && GRAFT_BIN=$(abspath $(BUILD))/graft $(GO) test -count=1 -timeout 300s ./...  # no -race: nothing here runs concurrently, and a race build of k8s.io/api costs minutes on a clean cache
