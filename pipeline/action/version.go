package action

import (
	"runtime"
	"runtime/debug"
)

// version is hubploy's version when a release build sets it
// (-ldflags "-X github.com/hubploy/hubploy/pipeline/action.version=v1.2.3"); otherwise
// it comes from the build information: the module version `go install …@v1.2.3`
// records, or "devel" with the commit of a build from a checkout.
var version = ""

// VersionInfo is what hubploy is built from.
type VersionInfo struct {
	Hubploy string `json:"hubploy"`
	Helm    string `json:"helm"` // the helm SDK's module version
	Go      string `json:"go"`
}

// Version reports hubploy's version, the helm SDK's and Go's.
func Version() VersionInfo {
	v := VersionInfo{Hubploy: version, Helm: "unknown", Go: runtime.Version()}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		if v.Hubploy == "" {
			v.Hubploy = "unknown"
		}
		return v
	}
	const self = "github.com/hubploy/hubploy"
	mods := append([]*debug.Module{&info.Main}, info.Deps...)
	for _, m := range mods {
		switch {
		case m.Path == self && v.Hubploy == "" && m.Version != "" && m.Version != "(devel)":
			v.Hubploy = m.Version
		case m.Path == "helm.sh/helm/v3":
			v.Helm = m.Version
		}
	}
	if v.Hubploy == "" {
		v.Hubploy = "devel"
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v.Hubploy += " (" + s.Value[:12] + ")"
			}
		}
	}
	return v
}
