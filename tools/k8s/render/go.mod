// The renderer builds offline in GOPATH mode against Debian's packaged Go
// sources (/usr/share/gocode: golang-github-masterminds-sprig-dev,
// golang-github-xeipuuv-gojsonschema-dev, golang-gopkg-yaml.v3-dev), see
// tools/k8s/build-render.sh; the versions below are the Debian 12 ones, for
// a module-mode build where a Go module proxy is reachable.
module swifteats/tools/k8s/render

go 1.19

require (
	github.com/Masterminds/semver/v3 v3.2.0
	github.com/Masterminds/sprig/v3 v3.2.3
	github.com/xeipuuv/gojsonschema v1.2.0
	gopkg.in/yaml.v3 v3.0.1
)
