package version_test

import (
	"runtime/debug"
	"testing"

	"github.com/triggersapi/triggers/internal/version"
)

func TestFromBuildInfo(t *testing.T) {
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	const rev = "467995e0b6b0a9a65809f308fe9385fa9a6472b6"
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"NoBuildInfo", nil, "dev"},
		{"DevelWithoutVCS", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
		{"EmptyWithoutVCS", &debug.BuildInfo{}, "dev"},
		{"ModuleVersion", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"},
			Settings: vcs("vcs.revision", rev, "vcs.modified", "true")}, "v1.2.3"},
		{"PseudoVersion", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20260102030405-467995e0b6b0+dirty"}},
			"v0.0.0-20260102030405-467995e0b6b0+dirty"},
		{"RevisionAndTime", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs", "git", "vcs.revision", rev, "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "false")},
			"467995e0b6b0 (2026-01-02T03:04:05Z)"},
		{"DirtyRevision", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs.revision", rev, "vcs.time", "2026-01-02T03:04:05Z", "vcs.modified", "true")},
			"467995e0b6b0-dirty (2026-01-02T03:04:05Z)"},
		{"ShortRevisionWithoutTime", &debug.BuildInfo{Settings: vcs("vcs.revision", "abc123")}, "abc123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := version.FromBuildInfo(tt.info); got != tt.want {
				t.Fatalf("FromBuildInfo = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestString_IsTheRunningBinarys checks that String reports what the test
// binary's own build information says (go test stamps no VCS information,
// so the value itself is not fixed here).
func TestString_IsTheRunningBinarys(t *testing.T) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		t.Fatal("no build information in the test binary")
	}
	if got, want := version.String(), version.FromBuildInfo(info); got != want {
		t.Fatalf("String() = %q, want %q", got, want)
	}
}
