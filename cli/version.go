package cli

import (
	"runtime/debug"
	"strings"
)

// modulePath is azdurable's module path.
const modulePath = "github.com/azdurable/azdurable"

// version describes the build for --version: the azdurable module's
// version (from the build info; "(devel)" when built from a checkout),
// the VCS revision and time when the build recorded them, and the main
// module when azdurable is a dependency of a user's own binary.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown version: built without module information)"
	}
	return describeBuild(info)
}

func describeBuild(info *debug.BuildInfo) string {
	v := info.Main.Version
	inside := ""
	if info.Main.Path != modulePath {
		v = "(unknown)"
		for _, d := range info.Deps {
			if d.Path == modulePath {
				v = d.Version
				if d.Replace != nil {
					v += " => " + d.Replace.Path
					if d.Replace.Version != "" && d.Replace.Version != "(devel)" {
						v += " " + d.Replace.Version
					}
				}
			}
		}
		if info.Main.Path != "" {
			inside = "in " + info.Main.Path + " " + info.Main.Version
		}
	}
	if v == "" {
		v = "(devel)"
	}
	var extra []string
	if inside != "" {
		extra = append(extra, inside)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	if rev := settings["vcs.revision"]; rev != "" {
		r := "revision " + rev
		if t := settings["vcs.time"]; t != "" {
			r += " of " + t
		}
		if settings["vcs.modified"] == "true" {
			r += " with local changes"
		}
		extra = append(extra, r)
	}
	if info.GoVersion != "" {
		extra = append(extra, info.GoVersion)
	}
	if len(extra) == 0 {
		return v
	}
	return v + " (" + strings.Join(extra, ", ") + ")"
}
