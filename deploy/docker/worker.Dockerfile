# Barrage worker image: a static binary on an empty base, run as a
# non-root user. Build from the repository's root:
#
#   docker build -f deploy/docker/worker.Dockerfile -t barrage-worker .
#
# The worker reads NATS_URL; give it --run and --slots to join one run of
# a launched fleet, as deploy/nomad/worker-dispatch-docker.nomad.hcl does.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/worker ./cmd/worker

FROM scratch
# CA certificates, for targets and NATS servers behind TLS.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/worker /worker
# nobody:nogroup; scratch has no /etc/passwd, so the ids are numeric.
USER 65534:65534
ENTRYPOINT ["/worker"]
