# Switchboard's image: FROM scratch over the static binaries `make build`
# makes, with this machine's CA certificates and tzdata copied in.
#
#   make docker                       # make docker-context, then docker build -t switchboard:latest .
#   docker run --rm -p 8080:8080 --env-file switchboard.env \
#     -v $PWD/switchboard.yaml:/etc/switchboard/switchboard.yaml:ro switchboard:latest
#
# The example config listens on 127.0.0.1:8080; a container's config sets
# http.listen: 0.0.0.0:8080. Secrets come from the environment (the file
# names the variables), DATABASE_URL and REDIS_URL too. Run the schema
# migration as its own step: docker run ... switchboard:latest migrate.
FROM scratch
COPY bin/rootfs/ /
ENV SWITCHBOARD_CONFIG=/etc/switchboard/switchboard.yaml
USER 65534:65534
EXPOSE 8080
ENTRYPOINT ["/usr/bin/switchboard"]
CMD ["serve", "--config", "/etc/switchboard/switchboard.yaml"]
