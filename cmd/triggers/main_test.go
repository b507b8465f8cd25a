package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/triggersapi/triggers/internal/teststore"
)

// binary is the triggers command built once for the tests that run it as a
// real process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "triggers-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "triggers")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		args = append(args, "-race")
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runCLI runs the program in-process and returns its exit code and output.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	m := &Main{Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string { return env[k] }}
	code := m.Run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

func TestKeysCLI(t *testing.T) {
	env := map[string]string{"TRIGGERS_DATA_DIR": t.TempDir()}
	code, out, errOut := runCLI(t, env, "keys", "create", "--tenant", "acme", "--name", "ci",
		"--rate-limit", "120", "--allowed-ips", "10.0.0.0/8, 203.0.113.7,2001:db8::/32,::ffff:192.0.2.1", "--json")
	if code != 0 {
		t.Fatalf("keys create = %d: %s", code, errOut)
	}
	var created struct {
		Key, KeyID, Tenant string
		RateLimit          int      `json:"rate_limit"`
		AllowedIPs         []string `json:"allowed_ips"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("keys create --json printed %q: %v", out, err)
	}
	var raw map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, f := range []string{"key", "key_id", "tenant", "rate_limit", "allowed_ips"} {
		if _, ok := raw[f]; !ok {
			t.Fatalf("keys create --json lacks %q: %s", f, out)
		}
	}
	if created.Tenant != "acme" || !strings.HasPrefix(created.Key, "tk_") || created.RateLimit != 120 ||
		fmt.Sprint(created.AllowedIPs) != "[10.0.0.0/8 203.0.113.7 2001:db8::/32 192.0.2.1]" {
		t.Fatalf("keys create --json = %s", out)
	}
	id := raw["key_id"].(string)

	t.Run("ListJSON", func(t *testing.T) {
		code, out, _ := runCLI(t, env, "keys", "list", "--json")
		if code != 0 || !strings.Contains(out, id) || strings.Contains(out, created.Key) {
			t.Fatalf("keys list --json = %d %s (must list the id, never the raw key)", code, out)
		}
	})
	t.Run("Update", func(t *testing.T) {
		code, out, errOut := runCLI(t, env, "keys", "update", id, "--rate-limit", "60", "--allowed-ips", "", "--json")
		if code != 0 || !strings.Contains(out, `"rate_limit":60`) || !strings.Contains(out, `"allowed_ips":[]`) {
			t.Fatalf("keys update = %d %s %s", code, out, errOut)
		}
	})
	t.Run("Revoke", func(t *testing.T) {
		if code, _, errOut := runCLI(t, env, "keys", "revoke", id); code != 0 {
			t.Fatalf("keys revoke = %d %s", code, errOut)
		}
		_, out, _ := runCLI(t, env, "keys", "list", "--json")
		if !strings.Contains(out, `"active":false`) {
			t.Fatalf("revoked key still active: %s", out)
		}
	})

	bad := []struct {
		name  string
		args  []string
		code  int
		needs string
	}{
		{"ErrBadIP", []string{"keys", "create", "--tenant", "t", "--allowed-ips", "10.0.0.0/8,300.1.1.1"}, 2, "300.1.1.1"},
		{"ErrZone", []string{"keys", "create", "--tenant", "t", "--allowed-ips", "fe80::1%eth0"}, 2, "fe80::1%eth0"},
		{"ErrBadCIDR", []string{"keys", "create", "--tenant", "t", "--allowed-ips", "10.0.0.0/33"}, 2, "10.0.0.0/33"},
		{"ErrNoTenant", []string{"keys", "create"}, 2, "--tenant"},
		{"ErrBadTenant", []string{"keys", "create", "--tenant", "a b"}, 2, "tenant"},
		{"ErrNegativeLimit", []string{"keys", "create", "--tenant", "t", "--rate-limit", "-1"}, 2, "rate-limit"},
		{"ErrShortKey", []string{"keys", "create", "--tenant", "t", "--key", "short"}, 2, "16 to 256"},
		{"ErrUpdateUnknown", []string{"keys", "update", "key_nope", "--rate-limit", "5"}, 1, "not found"},
		{"ErrUpdateNothing", []string{"keys", "update", id}, 2, "nothing to change"},
		{"ErrUpdateBadIP", []string{"keys", "update", id, "--allowed-ips", "nope"}, 2, "nope"},
		{"ErrUnknownCommand", []string{"frobnicate"}, 2, "unknown command"},
		{"ErrServeBadTrustedProxy", []string{"serve", "--trusted-proxies", "10.0.0.0/8,nope"}, 2, "nope"},
		{"ErrServeBadDefaultRateLimit", []string{"serve", "--default-rate-limit", "0"}, 2, "--default-rate-limit"},
		{"ErrServeUnknownRateLimiter", []string{"serve", "--rate-limiter", "redis"}, 2, "redis"},
		{"ErrServeBadCORSOrigin", []string{"serve", "--cors-origins", "https://ok.example,https://app.example/ui"}, 2, "https://app.example/ui"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			code, _, errOut := runCLI(t, env, c.args...)
			if code != c.code || !strings.Contains(errOut, c.needs) {
				t.Fatalf("%v = exit %d %q, want exit %d naming %q", c.args, code, errOut, c.code, c.needs)
			}
		})
	}
	_, out, _ = runCLI(t, env, "keys", "list", "--json")
	if n := strings.Count(out, `"key_id"`); n != 1 {
		t.Fatalf("refused commands stored keys: %d keys listed", n)
	}
}

// server is a triggers serve process.
type server struct {
	cmd  *exec.Cmd
	url  string
	logs *teststore.LogBuffer
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startServer runs `triggers serve` on dataDir and waits until it answers.
func startServer(t *testing.T, dataDir string, args ...string) *server {
	t.Helper()
	addr := freeAddr(t)
	cmd := exec.Command(binary, append([]string{"serve", "--data-dir", dataDir, "--addr", addr}, args...)...)
	logs := &teststore.LogBuffer{}
	cmd.Stdout, cmd.Stderr = io.Discard, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, url: "http://" + addr, logs: logs, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.done
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(s.url + "/v1/health"); err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("server exited: %v\n%s", s.err, logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("server did not answer within 30 s:\n%s", logs)
	return nil
}

// createKey runs `triggers keys create --json` with args and returns the
// new raw key and its id.
func createKey(t *testing.T, env map[string]string, args ...string) (key, id string) {
	t.Helper()
	code, out, errOut := runCLI(t, env, append(append([]string{"keys", "create"}, args...), "--json")...)
	if code != 0 {
		t.Fatalf("keys create %q = %d %s", args, code, errOut)
	}
	var k struct {
		Key   string `json:"key"`
		KeyID string `json:"key_id"`
	}
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" {
		t.Fatalf("keys create %q printed %q: %v", args, out, err)
	}
	return k.Key, k.KeyID
}

// revokeAndWait runs `triggers keys revoke id` and waits until the server
// at url refuses key (401), for 5 s at the most; it returns how long that took.
func revokeAndWait(t *testing.T, env map[string]string, url, key, id string) time.Duration {
	t.Helper()
	if code, _, errOut := runCLI(t, env, "keys", "revoke", id); code != 0 {
		t.Fatalf("keys revoke %s = %d %s", id, code, errOut)
	}
	revoked := time.Now()
	for get(t, url+"/v1/inbox", key) != 401 {
		if time.Since(revoked) > 5*time.Second {
			t.Fatal("revoked key still works after 5 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	return time.Since(revoked)
}

func get(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("X-API-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestServe_DevKeyAndCLIWhileRunning(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, dir, "--dev-key", "test-api-key-12345")
	if st := get(t, s.url+"/v1/inbox", "test-api-key-12345"); st != 200 {
		t.Fatalf("dev key: GET /v1/inbox = %d", st)
	}
	env := map[string]string{"TRIGGERS_DATA_DIR": dir}
	key, id := createKey(t, env, "--tenant", "live")
	if st := get(t, s.url+"/v1/inbox", key); st != 200 {
		t.Fatalf("key created while serving: GET /v1/inbox = %d", st)
	}
	t.Logf("revoked key refused after %v", revokeAndWait(t, env, s.url, key, id).Round(time.Millisecond))
}

func TestServe_NoKeysLogsHowToCreateOne(t *testing.T) {
	s := startServer(t, t.TempDir())
	time.Sleep(100 * time.Millisecond)
	if !strings.Contains(s.logs.String(), "triggers keys create") {
		t.Fatalf("no hint about creating a key in the logs:\n%s", s.logs)
	}
}

// TestServe_SIGKILLLosesNoAcknowledgedEvent kills the server with SIGKILL in
// the middle of concurrent creates, restarts it on the same data directory
// and checks that every event answered 201 is there.
func TestServe_SIGKILLLosesNoAcknowledgedEvent(t *testing.T) {
	dir := t.TempDir()
	const key = "durability-key-0123456789"
	s := startServer(t, dir, "--dev-key", key, "--rate-limiter", "off") // measures durability, not limits

	var mu sync.Mutex
	var acked []string
	var stop atomic.Bool
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 5 * time.Second}
	for w := range 16 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				body := fmt.Sprintf(`{"source":"durability","event_type":"w%d","payload":{"i":%d}}`, w, i)
				req, _ := http.NewRequest("POST", s.url+"/v1/events", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-API-Key", key)
				resp, err := client.Do(req)
				if err != nil {
					return // the server is gone
				}
				var out struct {
					EventID string `json:"event_id"`
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode == 201 && err == nil {
					mu.Lock()
					acked = append(acked, out.EventID)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-s.done
	stop.Store(true)
	wg.Wait()
	if len(acked) < 50 {
		t.Fatalf("only %d events were answered 201 before the kill; the test needs load", len(acked))
	}

	s2 := startServer(t, dir, "--dev-key", key, "--rate-limiter", "off")
	for _, id := range acked {
		if st := get(t, s2.url+"/v1/events/"+id, key); st != 200 {
			t.Fatalf("event %s was answered 201 before SIGKILL but GET after restart = %d (%d answered)", id, st, len(acked))
		}
	}
	t.Logf("%d events answered 201 before SIGKILL; all present after restart", len(acked))
}

func TestServe_SIGTERMShutsDownGracefully(t *testing.T) {
	s := startServer(t, t.TempDir(), "--dev-key", "graceful-key-0123456789")
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.done:
		if s.err != nil {
			t.Fatalf("exit after SIGTERM: %v\n%s", s.err, s.logs)
		}
	case <-time.After(25 * time.Second):
		t.Fatal("server did not stop within 25 s of SIGTERM")
	}
	if !strings.Contains(s.logs.String(), `"msg":"stopped"`) {
		t.Fatalf("no clean stop in the logs:\n%s", s.logs)
	}
}

// TestCLI_BadSettingIsUsageError checks every setting with a syntax, as a
// flag and as its environment variable, on the commands that read it: a bad
// value is exit code 2 and a message naming the flag or the variable.
func TestCLI_BadSettingIsUsageError(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		needs string
	}{
		{"ServeStoreFlag", nil, []string{"serve", "--store", "postgres"}, `--store: unknown store "postgres"`},
		{"ServeStoreEnv", map[string]string{"TRIGGERS_STORE": "postgres"}, []string{"serve"}, `TRIGGERS_STORE: unknown store "postgres"`},
		{"ServeRetentionFlag", nil, []string{"serve", "--retention", "soon"}, `--retention: "soon"`},
		{"ServeNegativeRetentionFlag", nil, []string{"serve", "--retention=-1h"}, `--retention: "-1h"`},
		{"ServeRetentionEnv", map[string]string{"TRIGGERS_RETENTION": "soon"}, []string{"serve"}, `TRIGGERS_RETENTION: "soon"`},
		{"ServeTrustedProxiesEnv", map[string]string{"TRIGGERS_TRUSTED_PROXIES": "10.0.0.0/8,nope"}, []string{"serve"}, "TRIGGERS_TRUSTED_PROXIES: "},
		{"ServeDefaultRateLimitFlag", nil, []string{"serve", "--default-rate-limit", "1000001"}, `--default-rate-limit: "1000001"`},
		{"ServeDefaultRateLimitEnv", map[string]string{"TRIGGERS_DEFAULT_RATE_LIMIT": "lots"}, []string{"serve"}, `TRIGGERS_DEFAULT_RATE_LIMIT: "lots"`},
		{"ServeRateLimiterEnv", map[string]string{"TRIGGERS_RATE_LIMITER": "redis"}, []string{"serve"}, `TRIGGERS_RATE_LIMITER: unknown rate limiter "redis"`},
		{"ServeFailClosedFlag", nil, []string{"serve", "--rate-limit-fail-closed=maybe"}, "rate-limit-fail-closed"},
		{"ServeFailClosedEnv", map[string]string{"TRIGGERS_RATE_LIMIT_FAIL_CLOSED": "maybe"}, []string{"serve"}, `TRIGGERS_RATE_LIMIT_FAIL_CLOSED: "maybe"`},
		{"ServeCORSEnv", map[string]string{"TRIGGERS_CORS_ORIGINS": "*,https://app.example"}, []string{"serve"}, "TRIGGERS_CORS_ORIGINS: "},
		{"ServeLogLevelFlag", nil, []string{"serve", "--log-level", "loud"}, `--log-level: "loud"`},
		{"ServeLogLevelEnv", map[string]string{"TRIGGERS_LOG_LEVEL": "loud"}, []string{"serve"}, `TRIGGERS_LOG_LEVEL: "loud"`},
		{"KeysStoreFlag", nil, []string{"keys", "list", "--store", "postgres"}, `--store: unknown store "postgres"`},
		{"KeysStoreEnv", map[string]string{"TRIGGERS_STORE": "postgres"}, []string{"keys", "list"}, `TRIGGERS_STORE: unknown store "postgres"`},
		// keys reads the server default to print the limit that applies; a
		// bad value was once silently replaced by 1000.
		{"KeysDefaultRateLimitEnv", map[string]string{"TRIGGERS_DEFAULT_RATE_LIMIT": "0"}, []string{"keys", "list"}, `TRIGGERS_DEFAULT_RATE_LIMIT: "0"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"TRIGGERS_DATA_DIR": t.TempDir()}
			for k, v := range tt.env {
				env[k] = v
			}
			code, _, errOut := runCLI(t, env, tt.args...)
			if code != exitUsage || !strings.Contains(errOut, tt.needs) {
				t.Fatalf("%v with %v = exit %d %q, want exit 2 naming %q", tt.args, tt.env, code, errOut, tt.needs)
			}
		})
	}
}

// TestKeys_DefaultRateLimitFromEnv checks that keys prints the server
// default a key without its own limit gets, from TRIGGERS_DEFAULT_RATE_LIMIT.
func TestKeys_DefaultRateLimitFromEnv(t *testing.T) {
	env := map[string]string{"TRIGGERS_DATA_DIR": t.TempDir(), "TRIGGERS_DEFAULT_RATE_LIMIT": "60"}
	if code, out, errOut := runCLI(t, env, "keys", "create", "--tenant", "acme", "--json"); code != 0 || !strings.Contains(out, `"rate_limit":60`) {
		t.Fatalf("keys create = %d %s %s, want rate_limit 60", code, out, errOut)
	}
	if code, out, errOut := runCLI(t, env, "keys", "list", "--json"); code != 0 || !strings.Contains(out, `"rate_limit":60`) {
		t.Fatalf("keys list = %d %s %s, want rate_limit 60", code, out, errOut)
	}
}

// TestVersion_SameEverywhere checks that `triggers --version`, `triggers
// version`, /, /v1/health and the "listening" log line of one binary report
// the same version. (Test builds carry no VCS information, so the value
// itself is not fixed here; internal/version tests the rules.)
func TestVersion_SameEverywhere(t *testing.T) {
	var printed []string
	for _, arg := range []string{"--version", "version"} {
		out, err := exec.Command(binary, arg).Output()
		if err != nil {
			t.Fatalf("triggers %s: %v", arg, err)
		}
		printed = append(printed, strings.TrimSuffix(string(out), "\n"))
	}
	want := printed[0]
	if want == "" || printed[1] != want {
		t.Fatalf("triggers --version = %q, triggers version = %q", printed[0], printed[1])
	}
	s := startServer(t, t.TempDir())
	for _, path := range []string{"/v1/health", "/"} {
		resp, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		var body struct{ Version string }
		err = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if err != nil || body.Version != want {
			t.Errorf("GET %s: version %q, %v; triggers --version printed %q", path, body.Version, err, want)
		}
	}
	logged := false
	for line := range strings.SplitSeq(s.logs.String(), "\n") {
		var l struct{ Msg, Version string }
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "listening" {
			logged = l.Version == want
		}
	}
	if !logged {
		t.Errorf("no listening line with version %q:\n%s", want, s.logs)
	}
}

// TestVersion_LinkerFlagWins builds the binary as a release would, with
// -ldflags -X, and checks that the version it prints is the one given.
func TestVersion_LinkerFlagWins(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "triggers")
	const release = "v9.8.7-test"
	build := exec.Command("go", "build", "-o", bin,
		"-ldflags", "-X github.com/triggersapi/triggers/internal/version.Release="+release, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").Output()
	if err != nil || string(out) != release+"\n" {
		t.Fatalf("triggers --version = %q, %v; want %s", out, err, release)
	}
}
