// Package packaging holds no code: its tests check, with the tools operators
// use, the files Switchboard is deployed with: the systemd unit
// (configs/systemd, systemd-analyze), the Debian package deb.sh builds
// (`make deb`; dpkg-deb, lintian) and the Dockerfile (docker, where a daemon
// answers). Tools that are missing skip their test locally and fail it in CI
// (testenv.Tool, SB_REQUIRE_TOOLS).
package packaging
