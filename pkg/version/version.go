// Package version reports the build's version: the module version when built
// from a tagged module, else the VCS revision, else "dev". A release build may
// set Override with -ldflags "-X github.com/lightmetrics/lightmetrics/pkg/version.Override=v1.0.0".
package version

import "runtime/debug"

// Override, when set at link time, wins over what the build info says.
var Override string

// String returns the version of this build.
func String() string {
	if Override != "" {
		return Override
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += "-dirty"
	}
	return "dev-" + rev
}
