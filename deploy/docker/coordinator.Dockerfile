# Barrage coordinator image: a static binary on an empty base, run as a
# non-root user. Build from the repository's root:
#
#   docker build -f deploy/docker/coordinator.Dockerfile -t barrage-coordinator .
#
# Mount the plan and run, for example:
#
#   docker run --rm -v "$PWD/plan.yaml:/plan.yaml:ro" -p 4222:4222 \
#     barrage-coordinator start /plan.yaml --listen 0.0.0.0:4222
#
# The embedded NATS server keeps its JetStream files under /tmp, which the
# user may write.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/coordinator ./cmd/coordinator \
 && mkdir -p /out/tmp && chmod 1777 /out/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/
COPY --from=build /out/tmp /tmp
COPY --from=build /out/coordinator /coordinator
USER 65534:65534
ENV TMPDIR=/tmp
ENTRYPOINT ["/coordinator"]
