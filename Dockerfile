# One image for every mode of podflow (sidecar, webhook, node).
#
#   docker build -t podflow .
#   docker run --rm --cap-add NET_RAW --network host podflow --mode sidecar
#
# Build stage: the release binary, exactly as CI builds it (`cargo build --release --locked`).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
RUN cargo build --release --locked --bin podflow

# Run stage: glibc and CA certificates, no shell, no package manager, a non-root user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/podflow /usr/local/bin/podflow
COPY config/podflow.toml /etc/podflow/podflow.toml
# 65532 is distroless's "nonroot" user; capture needs NET_RAW granted by the pod spec.
USER 65532:65532
EXPOSE 8443 9477
ENTRYPOINT ["/usr/local/bin/podflow"]
