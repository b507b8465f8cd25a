// Package version reports which build of Triggers is running: the one
// version string that `triggers version`, /, /v1/health and the logs show.
//
// A release sets it at link time:
//
//	go build -ldflags "-X github.com/triggersapi/triggers/internal/version.Release=v1.2.3" ./cmd/triggers
//
// Otherwise it comes from the build information the go command embeds
// (runtime/debug.ReadBuildInfo): the main module's version when it has one
// (go install ...@v1.2.3, or a version the go command derived from the VCS),
// else the VCS revision, "-dirty" when the working tree had changes, and the
// commit time; "dev" when the build carries none of these (go test, or
// -buildvcs=false).
package version

import (
	"runtime/debug"
	"sync"
)

// Release is the version of a release build, set with -ldflags -X; when
// set it wins over the build information.
var Release string

// String returns the build's version. It is computed once.
func String() string { return current() }

var current = sync.OnceValue(func() string {
	if Release != "" {
		return Release
	}
	info, _ := debug.ReadBuildInfo()
	return FromBuildInfo(info)
})

// FromBuildInfo returns the version that info describes, by the rules of
// the package doc; info may be nil. It is exported for tests and tools that
// read another binary's information (debug/buildinfo).
func FromBuildInfo(info *debug.BuildInfo) string {
	if info == nil {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var revision, modified, at string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			at = s.Value
		}
	}
	if revision == "" {
		return "dev"
	}
	v := revision[:min(len(revision), 12)]
	if modified == "true" {
		v += "-dirty"
	}
	if at != "" {
		v += " (" + at + ")"
	}
	return v
}
