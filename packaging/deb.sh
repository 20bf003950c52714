#!/usr/bin/env bash
# deb.sh: build the Debian package of Switchboard with dpkg-deb (`make deb`).
#
#   packaging/deb.sh OUTDIR [VERSION]
#
# Builds the three binaries (CGO_ENABLED=0, PIE), lays out the package
# tree under OUTDIR/tree and writes OUTDIR/switchboard_VERSION_ARCH.deb; prints
# its path. The package installs:
#   /usr/bin/switchboard, /usr/bin/smscsim, /usr/bin/smppbench
#   /lib/systemd/system/switchboard.service        (configs/systemd)
#   /etc/switchboard/switchboard.yaml              (a conffile: configs/switchboard.yaml)
#   /usr/share/switchboard/switchboard.env.example (postinst copies it to
#                                                   /etc/switchboard/switchboard.env, 0640, once)
#   /usr/share/switchboard/grafana/switchboard.json, /usr/share/switchboard/prometheus/alerts.yml
# and creates the system user `switchboard` on install. It never touches the
# database: `switchboard migrate` is the operator's step (docs/operations.md).
set -euo pipefail

out=${1:?usage: packaging/deb.sh OUTDIR [VERSION]}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
version=${2:-}
if [ -z "$version" ]; then
	version="0.1.0"
	if rev=$(git -C "$repo" log -1 --format='%cd.%h' --date=format:%Y%m%d 2>/dev/null); then
		version="0.1.0+git$rev"
	fi
fi
arch=$(dpkg --print-architecture)
GO=${GO:-go}

mkdir -p "$out"
out=$(cd "$out" && pwd)
tree="$out/tree"
rm -rf "$tree"
install -d -m 0755 "$tree/DEBIAN" "$tree/usr/bin" "$tree/lib/systemd/system" "$tree/etc/switchboard" \
	"$tree/usr/share/switchboard/grafana" "$tree/usr/share/switchboard/prometheus" "$tree/usr/share/doc/switchboard"

# Stripped, position-independent binaries with no shared library (Go's
# runtime only; Debian's lintian rejects a non-PIE static executable).
(cd "$repo" && CGO_ENABLED=0 "$GO" build -buildmode=pie -trimpath -ldflags='-s -w' -o "$tree/usr/bin/" ./cmd/switchboard ./cmd/smscsim ./cmd/smppbench)
chmod 0755 "$tree"/usr/bin/*

install -m 0644 "$repo/configs/systemd/switchboard.service" "$tree/lib/systemd/system/switchboard.service"
install -m 0644 "$repo/configs/switchboard.yaml" "$tree/etc/switchboard/switchboard.yaml"
install -m 0644 "$here/debian/switchboard.env" "$tree/usr/share/switchboard/switchboard.env.example"
install -m 0644 "$repo/configs/grafana/switchboard.json" "$tree/usr/share/switchboard/grafana/switchboard.json"
install -m 0644 "$repo/configs/prometheus/alerts.yml" "$tree/usr/share/switchboard/prometheus/alerts.yml"
install -m 0644 "$here/debian/copyright" "$tree/usr/share/doc/switchboard/copyright"
sed "s/@VERSION@/$version/" "$here/debian/changelog" | gzip -9n > "$tree/usr/share/doc/switchboard/changelog.gz"
chmod 0644 "$tree/usr/share/doc/switchboard/changelog.gz"

for s in postinst prerm postrm; do
	install -m 0755 "$here/debian/$s" "$tree/DEBIAN/$s"
done
install -m 0644 "$here/debian/conffiles" "$tree/DEBIAN/conffiles"
size=$(du -k -s --exclude=DEBIAN "$tree" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/debian/control" > "$tree/DEBIAN/control"
chmod 0644 "$tree/DEBIAN/control"

deb="$out/switchboard_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$tree" "$deb" >/dev/null
echo "$deb"
