# raftkv container image: static kvd and kvctl on an empty (scratch) base.
#
# There is no build stage: no base image is pulled (not even golang), so the
# build works with no registry reachable. The binaries are built on the host
# with the local Go toolchain first, then copied in:
#
#   scripts/docker-cluster.sh image          # or: make docker-cluster
#
# which runs, in effect,
#
#   CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags '-s -w' -o bin/docker/kvd   ./cmd/kvd
#   CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags '-s -w' -o bin/docker/kvctl ./cmd/kvctl
#   mkdir -p bin/docker/rootfs/data bin/docker/rootfs/tmp
#   docker build -t raftkv:dev .
#
# The context is the repository root, but .dockerignore sends only bin/docker*/
# (BIN picks the directory: --build-arg BIN=bin/docker-e2e-x, as the e2e test
# does). CGO_ENABLED=0 matters: with cgo the net package links libc, which
# scratch does not have.
#
# The image has no shell and no HTTP client, hence no HEALTHCHECK: probe the
# admin port from outside (GET /livez: the process and its store are fine;
# GET /readyz: a leader is known and this node has caught up).
# `docker exec <container> /kvctl ...` works for by-hand inspection.
FROM scratch
ARG BIN=bin/docker

COPY ${BIN}/kvd ${BIN}/kvctl /
# Empty /data (the volume mount point; a fresh named volume takes its
# owner from here) and /tmp, both owned by the unprivileged user below.
COPY --chown=65532:65532 ${BIN}/rootfs/ /

# Not root: kvd needs no privilege (its ports are above 1024).
USER 65532:65532
WORKDIR /data
VOLUME /data

# 7001 client gRPC, 7101 raft (peers only), 7201 admin HTTP.
EXPOSE 7001 7101 7201

ENTRYPOINT ["/kvd"]
CMD ["--help"]
